"""The cloud engines this installation can use: those whose API key is configured."""

from __future__ import annotations

from voice_avatar.engines.cloud.base import CloudEngine
from voice_avatar.settings import Settings


def cloud_engines(settings: Settings) -> dict[str, CloudEngine]:
    engines: dict[str, CloudEngine] = {}
    if settings.elevenlabs_api_key:
        from voice_avatar.engines.cloud.elevenlabs import ElevenLabsEngine

        engines["elevenlabs"] = ElevenLabsEngine(
            api_key=settings.elevenlabs_api_key,
            base_url=settings.elevenlabs_base_url,
            model_id=settings.elevenlabs_model_id,
            timeout=settings.elevenlabs_timeout_seconds,
        )
    if settings.fishaudio_api_key:
        from voice_avatar.engines.cloud.fishaudio import FishAudioEngine

        engines["fishaudio"] = FishAudioEngine(
            api_key=settings.fishaudio_api_key,
            base_url=settings.fishaudio_base_url,
            model=settings.fishaudio_model,
            timeout=settings.fishaudio_timeout_seconds,
        )
    return engines
