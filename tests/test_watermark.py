"""The watermark on real speech and real Piper output: found after MP3, 16 kHz and +-5 % speed,
never found on the 40 unmarked recordings, payload and avatar read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample as fourier_resample

from voice_avatar import watermark
from voice_avatar.audio import Audio, load_audio
from voice_avatar.audio.encode import encode
from voice_avatar.engines import piper_voice
from voice_avatar.engines.local import LocalCloneEngine, fit_profile
from voice_avatar.watermark import Payload, detect, embed

VOICES = Path(__file__).resolve().parents[1].parent / "shared" / "voices" / "librispeech"
CLIPS = sorted(VOICES.glob("*/*.flac"))
AVATAR = "3f2a9c0d5e6b4a7c8d9e0f1a2b3c4d5e"
OTHER = "9b8a7c6d5e4f40312a1b0c9d8e7f6a5b"
SENTENCES = [
    "Your package will arrive on Thursday between nine and eleven.",
    "Please remember to bring your notebook to the meeting tomorrow morning.",
]

pytestmark = pytest.mark.skipif(len(CLIPS) < 40, reason=f"the 40 test recordings are missing from {VOICES}")


def speed(audio: Audio, factor: float) -> Audio:
    """Played `factor` times faster by resampling: time and pitch change together."""
    samples = fourier_resample(audio.samples, round(len(audio.samples) / factor))
    return Audio(samples.astype(np.float32), audio.sample_rate)


TRANSFORMS = {
    "none": lambda a: a,
    "mp3": lambda a: load_audio(encode(a, "mp3")),
    "16k": lambda a: a.at_rate(16_000),
    "faster": lambda a: speed(a, 1.05),
    "slower": lambda a: speed(a, 0.95),
}


@pytest.fixture(scope="module")
def real() -> list[Audio]:
    return [load_audio(p) for p in CLIPS]


@pytest.fixture(scope="module")
def piper() -> list[Audio]:
    return [piper_voice.synthesize(s) for s in SENTENCES]


@pytest.fixture(scope="module")
def marked(real: list[Audio], piper: list[Audio]) -> list[Audio]:
    """A Piper sentence (22.05 kHz, about 3 s) and a real recording (16 kHz, 13 s)."""
    payload = Payload.for_avatar(AVATAR)
    return [embed(piper[0], payload), embed(real[0], payload)]


def test_embedding_keeps_rate_length_and_sound(piper: list[Audio], real: list[Audio]) -> None:
    for original in (piper[0], real[1]):
        out = embed(original, Payload.for_avatar(AVATAR))
        assert out.sample_rate == original.sample_rate and len(out.samples) == len(original.samples)
        assert out.samples.dtype == np.float32 and np.abs(out.samples).max() <= 1.0
        change = out.samples - original.samples
        snr = 10 * np.log10(np.sum(original.samples**2) / np.sum(change**2))
        assert 10 < snr < 40, snr  # level changes of 1-3 dB: present, but far below the speech


@pytest.mark.parametrize("name", TRANSFORMS)
def test_found_after_each_transformation(marked: list[Audio], name: str) -> None:
    for audio in marked:
        found = detect(TRANSFORMS[name](audio), avatar_ids=[OTHER, AVATAR])
        assert found.found and found.confidence > 0.9999, (name, found)
        assert found.service == "voice-avatar"
        assert found.avatar_id == AVATAR, (name, found)
        if name in ("faster", "slower"):
            assert found.speed == pytest.approx(1.05 if name == "faster" else 0.95, abs=0.01)


def test_avatars_the_mark_does_not_name_are_not_confirmed(marked: list[Audio]) -> None:
    decoys = [OTHER, "0" * 32, "5ca1ab1e" * 4, "deadbeef" * 4, AVATAR[:6] + "0" * 26]  # the last shares the tag
    for audio in marked:
        found = detect(load_audio(encode(audio, "mp3")), avatar_ids=decoys[:4])
        assert found.found and found.avatar_id is None
    assert detect(marked[1], avatar_ids=decoys).avatar_id == decoys[-1]  # a 24-bit tag names an id prefix


def test_no_false_positives_on_the_40_unmarked_recordings(real: list[Audio]) -> None:
    results = [detect(a) for a in real]
    assert not any(r.found for r in results), [(str(p.name), r.score) for p, r in zip(CLIPS, results, strict=True)]
    assert max(r.score for r in results) < 5.0


def test_no_false_positive_on_unmarked_piper_or_after_mp3(piper: list[Audio]) -> None:
    for audio in piper:
        assert not detect(audio).found
        assert not detect(load_audio(encode(audio, "mp3"))).found


def test_payload_decodes_blind_from_a_long_recording(real: list[Audio]) -> None:
    """Without candidates the 48 bits must be read one by one: that takes a long, clean recording."""
    audio = embed(real[0], Payload.for_avatar(AVATAR))
    found = detect(audio)
    assert found.payload == Payload.for_avatar(AVATAR)
    assert f"{found.payload.avatar_tag:06x}" == AVATAR[:6]
    assert found.avatar_id is None  # no candidates were given


def test_payload_bits_carry_a_checksum() -> None:
    payload = Payload.for_avatar(AVATAR)
    bits = payload.bits()
    assert len(bits) == watermark.PAYLOAD_BITS and Payload.from_bits(bits) == payload
    for i in (0, 9, 40):
        flipped = bits.copy()
        flipped[i] ^= 1
        assert Payload.from_bits(flipped) is None
    assert Payload.for_avatar(None).avatar_tag == 0 and Payload.for_avatar("not-hex").avatar_tag != 0


def test_sentences_marked_one_by_one_are_found_when_joined(piper: list[Audio]) -> None:
    """Streaming marks each sentence on its own, so the patterns do not line up across sentences."""
    gap = np.zeros(int(0.25 * piper[0].sample_rate), np.float32)
    parts = [embed(p, Payload.for_avatar(AVATAR)).samples for p in piper]
    joined = Audio(np.concatenate([parts[0], gap, parts[1]]), piper[0].sample_rate)
    assert detect(load_audio(encode(joined, "mp3")), avatar_ids=[AVATAR]).found


def test_another_key_does_not_see_the_mark(marked: list[Audio]) -> None:
    assert not detect(marked[0], key=b"someone else").found


def test_silence_and_very_short_audio(piper: list[Audio]) -> None:
    silence = Audio(np.zeros(22_050 * 2, np.float32), 22_050)
    assert np.array_equal(embed(silence).samples, silence.samples)
    assert not detect(silence).found
    short = Audio(piper[0].samples[:4000], piper[0].sample_rate)  # 0.18 s: too short to carry a mark
    assert embed(short) is short and not detect(short).found


def test_the_local_engine_marks_what_it_says(real: list[Audio]) -> None:
    profile = fit_profile(real[30:33])  # speaker 3331
    engine = LocalCloneEngine()
    whole = engine.synthesize(SENTENCES[0] + " " + SENTENCES[1], profile, avatar_id=AVATAR)
    found = detect(load_audio(encode(whole, "mp3")), avatar_ids=[OTHER, AVATAR])
    assert found.found and found.avatar_id == AVATAR
    sentence = engine.synthesize_sentence(SENTENCES[1], profile, avatar_id=AVATAR)
    assert detect(sentence, avatar_ids=[AVATAR]).avatar_id == AVATAR
    assert not detect(engine.synthesize_raw(SENTENCES[0])).found  # stock Piper, never served
