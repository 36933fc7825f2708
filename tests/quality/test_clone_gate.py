"""The clone gate: bars judged one by one, and real avatars that must fail it do."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_avatar.audio import load_audio
from voice_avatar.audio.encode import encode
from voice_avatar.engines.local import LocalCloneEngine, fit_profile
from voice_avatar.enrollment import EnrollOptions, Upload, enroll
from voice_avatar.errors import InputError
from voice_avatar.quality.clone_gate import GateThresholds, judge, score_clone
from voice_avatar.quality.consent import sample_embedding
from voice_avatar.quality.degrade import degradations
from voice_avatar.quality.sample_checks import Thresholds
from voice_avatar.settings import Settings
from voice_avatar.store import open_store

VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"
LOCAL = Settings().gate_thresholds("local")
GOOD = {"similarity": 0.70, "stock_similarity": 0.55, "dnsmos": 3.2, "wer": 0.0}


def _clips(speaker: str, count: int = 5):
    return [load_audio(p, 16000) for p in sorted((VOICES / speaker).glob("*.flac"))[:count]]


def test_good_scores_pass() -> None:
    result = judge(GOOD, LOCAL)
    assert result.passed and result.reasons == [] and result.advice == []


@pytest.mark.parametrize(
    ("change", "reason", "advice"),
    [
        ({"similarity": 0.40, "stock_similarity": 0.30}, "similarity 0.40 <", "does not sound enough like you"),
        ({"similarity": 0.56}, "above the stock voice", "does not sound enough like you"),
        ({"dnsmos": 2.5}, "naturalness", "sounds rough"),
        ({"wer": 0.4}, "word error rate 40%", "hard to understand"),
    ],
)
def test_each_failed_bar_gives_its_reason_and_advice(change: dict, reason: str, advice: str) -> None:
    result = judge({**GOOD, **change}, LOCAL)
    assert not result.passed
    assert len(result.reasons) == 1 and reason in result.reasons[0]
    assert len(result.advice) == 1 and advice in result.advice[0]


def test_cloud_bars_ignore_the_stock_voice() -> None:
    bars = GateThresholds(min_similarity=0.82, min_dnsmos=2.94, max_wer=0.10)
    assert judge({"similarity": 0.85, "dnsmos": 3.0, "wer": 0.05}, bars).passed


def test_a_clone_of_someone_else_is_rejected() -> None:
    """A woman's sample gates a clone fitted on a man: it is no closer to her than the stock voice."""
    engine = LocalCloneEngine()
    profile = fit_profile(_clips("2609"))
    scores = score_clone(
        lambda t: engine.synthesize(t, profile), sample_embedding(_clips("1998")), speak_stock=engine.synthesize_raw
    )
    result = judge(scores, LOCAL)
    assert not result.passed
    assert any("stock voice" in r for r in result.reasons)


def test_a_noisy_sample_never_makes_a_ready_avatar(tmp_path: Path) -> None:
    """Past the sample checks, a 0 dB SNR sample is either refused by the fit or stored rejected with scores."""
    own, other = _clips("2033"), _clips("2609")
    noisy = degradations(own, other, seed=1)["noise_0db"][1]()  # bench/clone_gate.py: rejected on two bars
    settings = Settings(home=tmp_path / "home")
    store = open_store(settings)
    lenient = EnrollOptions(sample_thresholds=Thresholds(min_snr_db=-100.0), gate=LOCAL)  # past the sample check
    try:
        record = enroll(store, "Noisy", [Upload("kitchen.wav", encode(noisy, "wav"))], options=lenient)
    except InputError as refused:  # Piper's renditions could not be matched to the noisy speech
        assert "too little clear speech" in str(refused)
        assert store.list() == []
        return
    assert record.status == "rejected"
    assert {"similarity", "stock_similarity", "dnsmos", "wer"} <= set(record.scores)
    assert record.advice
    assert store.get("Noisy").status == "rejected"  # kept, so the person can see why
