"""Local voice cloning: Piper speech converted to an enrolled speaker's voice, on CPU, offline."""

from voice_avatar.engines.local.engine import LocalCloneEngine
from voice_avatar.engines.local.enroll import fit_profile
from voice_avatar.engines.local.profile import VoiceProfile

__all__ = ["LocalCloneEngine", "VoiceProfile", "fit_profile"]
