"""The numpy GE2E encoder: same embeddings as resemblyzer+torch, and it tells speakers apart."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voice_avatar.audio import Audio, load_audio
from voice_avatar.errors import InputError
from voice_avatar.speaker import SpeakerEncoder, compute_partial_slices, preprocess, similarity
from voice_avatar.speaker.encoder import normalize_volume

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
VOICES = SHARED / "voices/librispeech"
SPEAKERS = ["1998", "2033", "2609", "3331"]


def _clips(speaker: str) -> list[Path]:
    clips = sorted((VOICES / speaker).glob("*.flac"))
    assert len(clips) == 10, f"expected 10 clips of speaker {speaker} in {VOICES}"
    return clips


@cache
def _preprocessed(path: Path) -> np.ndarray:
    """Clips are preprocessed once for all tests (the VAD is the slow part)."""
    return preprocess(load_audio(path, sample_rate=16000))


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    return SpeakerEncoder()


# -- parity with the reference (needs torch, librosa and webrtcvad; test-only) --------------


@pytest.fixture(scope="module")
def reference() -> Iterator[Any]:
    """resemblyzer's torch `VoiceEncoder`, on one thread (several times faster on a busy 2-core box)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("librosa")
    pytest.importorskip("webrtcvad")
    from resemblyzer import VoiceEncoder

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield VoiceEncoder(device="cpu", verbose=False)
    torch.set_num_threads(threads)


def test_embeddings_match_resemblyzer(encoder: SpeakerEncoder, reference: Any) -> None:
    cosines = {}
    for path in [clip for speaker in SPEAKERS for clip in _clips(speaker)]:
        wav = _preprocessed(path)
        cosines[path.name] = similarity(encoder.embed_utterance(wav), reference.embed_utterance(wav))
    worst = min(cosines, key=cosines.get)
    print(f"\nmin cosine to resemblyzer over {len(cosines)} clips: {cosines[worst]:.9f} ({worst})")
    assert all(c >= 0.999 for c in cosines.values()), cosines


def test_partials_match_resemblyzer_on_short_and_odd_lengths(encoder: SpeakerEncoder, reference: Any) -> None:
    wav = _preprocessed(_clips("2609")[4])
    for n in (400, 16000, 25_599, 25_600, 40_123, 123_457):
        ours, ours_partials = encoder.embed_partials(wav[:n])
        theirs, theirs_partials, _ = reference.embed_utterance(wav[:n], return_partials=True)
        assert ours_partials.shape == theirs_partials.shape
        assert similarity(ours, theirs) >= 0.999
    for n in range(0, 200_000, 997):
        for rate, coverage in ((1.3, 0.75), (0.7, 0.5), (4.0, 1.0)):
            assert compute_partial_slices(n, rate, coverage) == reference.compute_partial_slices(
                n, rate, coverage
            )


def test_full_pipeline_stays_close_to_resemblyzers(encoder: SpeakerEncoder, reference: Any) -> None:
    """Silero in place of webrtcvad changes which pauses are cut, not who is speaking."""
    from resemblyzer import preprocess_wav

    cosines = []
    for speaker in SPEAKERS:
        for path in _clips(speaker)[::3]:
            theirs = reference.embed_utterance(preprocess_wav(load_audio(path, sample_rate=16000).samples))
            cosines.append(similarity(encoder.embed_utterance(_preprocessed(path)), theirs))
    print(f"\nSilero vs webrtcvad preprocessing: mean cosine {np.mean(cosines):.4f}, min {min(cosines):.4f}")
    assert min(cosines) >= 0.95 and np.mean(cosines) >= 0.98


# -- behaviour, torch-free -------------------------------------------------------------------


def test_same_speaker_is_more_similar_than_any_other(encoder: SpeakerEncoder) -> None:
    test = {s: encoder.embed_speaker([_preprocessed(p) for p in _clips(s)[:5]]) for s in SPEAKERS}
    enrolled = {s: encoder.embed_speaker([_preprocessed(p) for p in _clips(s)[5:]]) for s in SPEAKERS}
    scores = np.array([[similarity(test[a], enrolled[b]) for b in SPEAKERS] for a in SPEAKERS])
    print("\nspeaker similarity (rows: clips 0-4, columns: clips 5-9)\n", np.round(scores, 3))
    same = np.diag(scores)
    others = scores[~np.eye(len(SPEAKERS), dtype=bool)].reshape(len(SPEAKERS), -1)
    assert np.all(same > 0.85)
    assert np.all(same[:, None] > others + 0.15)  # each row: own speaker first, by a margin
    assert np.all(same[None, :] > scores[~np.eye(len(SPEAKERS), dtype=bool)].max() + 0.15)


def test_embeddings_are_unit_norm_and_non_negative(encoder: SpeakerEncoder) -> None:
    embedding, partials = encoder.embed_partials(_preprocessed(_clips("1998")[2]))
    assert embedding.shape == (256,) and embedding.dtype == np.float32
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)
    assert np.all(partials >= 0) and np.allclose(np.linalg.norm(partials, axis=1), 1.0, atol=1e-5)


def test_batched_utterances_equal_one_by_one(encoder: SpeakerEncoder) -> None:
    wav = _preprocessed(_clips("2609")[7])
    segments = [wav[i : i + 3 * 16000] for i in range(0, len(wav) - 3 * 16000, 2 * 16000)] + [wav[:500], wav]
    batched = encoder.embed_utterances(segments)
    one_by_one = np.stack([encoder.embed_utterance(s) for s in segments])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert encoder.embed_utterances([]).shape == (0, 256)


def test_preprocess_resamples_raises_quiet_audio_and_cuts_long_pauses() -> None:
    speech = load_audio(_clips("2033")[5])  # 16 kHz
    quiet = speech.samples * 0.05
    pause = np.zeros(3 * 16000, dtype=np.float32)
    padded = Audio(np.concatenate([quiet, pause, quiet]), 16000)
    out = preprocess(padded)
    plain = preprocess(Audio(quiet, 16000))
    assert out.dtype == np.float32
    assert 2 * len(plain) - 0.1 * 16000 <= len(out) <= 2 * len(plain) + 0.6 * 16000  # 3 s pause -> <= 0.6 s
    rms_db = 20 * np.log10(np.sqrt(np.mean(plain.astype(np.float64) ** 2)))
    assert rms_db > -32  # raised from about -55 dBFS towards -30 (trimming lifts it a little more)

    resampled = preprocess(speech.at_rate(44100))
    assert abs(len(resampled) - len(preprocess(speech))) < 0.1 * 16000


def test_volume_is_only_ever_raised() -> None:
    loud = np.full(1600, 0.5, dtype=np.float32)
    np.testing.assert_array_equal(normalize_volume(loud, -30, increase_only=True), loud)
    quiet = np.full(1600, 0.001, dtype=np.float32)
    raised = normalize_volume(quiet, -30, increase_only=True)
    assert 20 * np.log10(np.sqrt(np.mean(raised.astype(np.float64) ** 2))) == pytest.approx(-30, abs=0.01)
    np.testing.assert_array_equal(normalize_volume(np.zeros(100, np.float32), -30, True), np.zeros(100))


def test_silence_and_noise_are_refused_as_no_speech() -> None:
    rng = np.random.default_rng(0)
    for samples in (np.zeros(3 * 16000), 0.01 * rng.standard_normal(3 * 16000)):
        with pytest.raises(InputError, match="no speech"):
            preprocess(Audio(samples.astype(np.float32), 16000))


def test_similarity_is_a_cosine() -> None:
    assert similarity([1, 0], [1, 0]) == pytest.approx(1.0)
    assert similarity([1, 0], [0, 2]) == pytest.approx(0.0)
    assert similarity([1, 1], [2, 2]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        similarity([0, 0], [1, 0])
