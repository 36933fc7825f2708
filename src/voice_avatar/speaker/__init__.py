"""Speaker identity: GE2E embeddings (resemblyzer's network, in numpy) and their similarity.

Used to check that a cloned voice sounds like its owner (cosine of embeddings, "SECS").
"""

from voice_avatar.speaker.encoder import SpeakerEncoder, compute_partial_slices, preprocess, similarity

__all__ = ["SpeakerEncoder", "compute_partial_slices", "preprocess", "similarity"]
