"""The Fish Audio client against a stand-in that follows Fish Audio's documented API, over real HTTP.

One stand-in server serves the module; each test starts from a fresh account (`reset`). Errors are
injected through the stand-in's control object and must come out as our taxonomy's classes.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from email.utils import formatdate

import httpx
import msgpack
import numpy as np
import pytest
import soundfile
from standins.fishaudio import FishAudioStandin, make_fishaudio_standin
from standins.server import running_server

from voice_avatar.audio import Audio, load_audio
from voice_avatar.audio.encode import encode
from voice_avatar.engines.cloud.base import (
    CloudEngine,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    Sample,
    VoiceMissing,
)
from voice_avatar.engines.cloud.fishaudio import FishAudioEngine

KEY = "fa-test-key"
TEXT = "Your reminder is set for nine tomorrow morning."


def tone_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return encode(Audio((0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), rate), "wav")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FishAudioStandin, str]]:
    standin = make_fishaudio_standin(api_key=KEY)
    with running_server(standin) as url:
        yield standin, url


@pytest.fixture
def standin(served: tuple[FishAudioStandin, str]) -> FishAudioStandin:
    served[0].reset()
    return served[0]


@pytest.fixture
def url(served: tuple[FishAudioStandin, str], standin: FishAudioStandin) -> str:
    return served[1]


@pytest.fixture
def engine(url: str) -> Iterator[FishAudioEngine]:
    with FishAudioEngine(KEY, url, model="s1", timeout=10.0, poll_interval=0.05, ready_timeout=5.0) as client:
        yield client


@pytest.fixture
def voice(engine: FishAudioEngine) -> str:
    return engine.create_voice("Reader", [Sample("reader.wav", tone_wav())])


def test_it_is_a_cloud_engine(engine: FishAudioEngine) -> None:
    as_protocol: CloudEngine = engine  # what a type checker holds it to
    assert as_protocol.name == "fishaudio"
    for method in ("create_voice", "delete_voice", "synthesize", "stream", "usage"):
        assert callable(getattr(as_protocol, method))


# -- voices ---------------------------------------------------------------------------------------


def test_create_voice_sends_a_private_fast_tts_model_as_multipart(engine: FishAudioEngine, standin) -> None:
    samples = [Sample("one.wav", tone_wav()), Sample("two.flac", encode(load_audio(tone_wav()), "flac"))]
    voice_id = engine.create_voice("Grandma", samples)
    assert voice_id in standin.models
    [sent] = standin.requests_to("POST", "/model")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert sent.fields == {"type": "tts", "title": "Grandma", "train_mode": "fast", "visibility": "private"}
    assert [(f[0], f[1]) for f in sent.files] == [("voices", "one.wav"), ("voices", "two.flac")]
    assert sent.files[0][2] == "audio/x-wav" or sent.files[0][2].startswith("audio/")


def test_create_voice_waits_until_the_model_is_trained(engine: FishAudioEngine, standin) -> None:
    standin.control.training_seconds = 0.3
    voice_id = engine.create_voice("Slow", [Sample("a.wav", tone_wav())])
    assert standin.state_of(voice_id) == "trained"
    assert len(standin.requests_to("GET", f"/model/{voice_id}")) >= 2


def test_a_model_that_fails_to_train_is_deleted_and_reported(engine: FishAudioEngine, standin) -> None:
    standin.control.training_outcome = "failed"
    with pytest.raises(ProviderServerError, match="failed to train"):
        engine.create_voice("Broken", [Sample("a.wav", tone_wav())])
    assert standin.models == {}
    assert len([r for r in standin.requests if r.method == "DELETE"]) == 1


def test_refused_samples_are_a_bad_request(engine: FishAudioEngine) -> None:
    with pytest.raises(ProviderBadRequest, match="Invalid audio"):
        engine.create_voice("Notes", [Sample("notes.wav", b"shopping list: milk, eggs" * 40)])


def test_delete_voice_and_deleting_a_gone_voice(engine: FishAudioEngine, standin, voice: str) -> None:
    engine.delete_voice(voice)
    assert voice not in standin.models
    engine.delete_voice(voice)  # 404: already gone, not an error
    assert [r.path for r in standin.requests if r.method == "DELETE"] == [f"/model/{voice}"] * 2


# -- speech ---------------------------------------------------------------------------------------


def test_synthesis_request_shape(engine: FishAudioEngine, standin, voice: str) -> None:
    engine.synthesize(TEXT, voice, "wav", speed=1.25, sample_rate=16000)
    [sent] = standin.requests_to("POST", "/v1/tts")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["model"] == "s1"
    assert sent.headers["content-type"] == "application/json"
    assert sent.fields == {
        "text": TEXT,
        "reference_id": voice,
        "format": "wav",
        "sample_rate": 16000,
        "latency": "normal",
        "prosody": {"speed": 1.25},
    }


def test_mp3_asks_the_default_rate_and_a_bitrate(engine: FishAudioEngine, standin, voice: str) -> None:
    data = engine.synthesize(TEXT, voice, "mp3")
    [sent] = standin.requests_to("POST", "/v1/tts")
    assert sent.fields["mp3_bitrate"] == 128 and "sample_rate" not in sent.fields
    audio = load_audio(data)
    assert audio.sample_rate == 44100 and audio.duration > 1.0


@pytest.mark.parametrize(("fmt", "rate"), [("wav", 24000), ("wav", 8000), ("pcm", 16000), ("pcm", 44100)])
def test_each_format_decodes_at_the_asked_rate(engine: FishAudioEngine, standin, voice, fmt, rate) -> None:
    data = engine.synthesize(TEXT, voice, fmt, sample_rate=rate)
    assert standin.requests_to("POST", "/v1/tts")[0].fields["sample_rate"] == rate
    assert _duration(data, fmt, rate) == pytest.approx(0.065 * len(TEXT), rel=0.05)


@pytest.mark.parametrize("fmt", ["wav", "pcm"])
def test_a_rate_fish_audio_lacks_is_asked_at_44k_and_resampled(engine: FishAudioEngine, standin, voice, fmt) -> None:
    data = engine.synthesize(TEXT, voice, fmt, sample_rate=22050)
    assert standin.requests_to("POST", "/v1/tts")[0].fields["sample_rate"] == 44100
    assert _duration(data, fmt, 22050) == pytest.approx(0.065 * len(TEXT), rel=0.05)
    streamed = b"".join(engine.stream(TEXT, voice, fmt, sample_rate=22050))
    assert _duration(streamed, fmt, 22050) == pytest.approx(0.065 * len(TEXT), rel=0.05)


def test_speed_reaches_the_provider(engine: FishAudioEngine, voice: str) -> None:
    slow = _duration(engine.synthesize(TEXT, voice, "pcm", speed=0.5, sample_rate=16000), "pcm", 16000)
    fast = _duration(engine.synthesize(TEXT, voice, "pcm", speed=2.0, sample_rate=16000), "pcm", 16000)
    assert slow == pytest.approx(4 * fast, rel=0.02)


@pytest.mark.parametrize(("fmt", "rate"), [("mp3", 44100), ("wav", 24000), ("pcm", 24000)])
def test_streaming_yields_several_chunks_that_make_the_file(engine: FishAudioEngine, voice, fmt, rate) -> None:
    chunks = list(engine.stream(TEXT * 2, voice, fmt, sample_rate=rate))
    assert len(chunks) > 1 and all(chunks)
    assert _duration(b"".join(chunks), fmt, rate) == pytest.approx(0.065 * len(TEXT) * 2, rel=0.05)


def test_the_first_chunk_arrives_before_the_last_is_sent(engine: FishAudioEngine, standin, voice) -> None:
    standin.control.chunk_delay, standin.control.chunk_bytes = 0.05, 32768
    started = time.monotonic()
    stream = engine.stream(TEXT * 3, voice, "pcm", sample_rate=24000)
    next(stream)
    first = time.monotonic() - started
    rest = list(stream)
    total = time.monotonic() - started
    assert len(rest) >= 5 and total - first > 0.4  # the rest kept arriving after the first was ours


# -- account --------------------------------------------------------------------------------------


def test_usage_reads_the_credit_balance(engine: FishAudioEngine, standin, voice: str) -> None:
    before = engine.usage()
    assert before.limit == 10.0 and before.used is None and before.unit == "credits"
    assert before.raw["cumulative_top_up"] == "10.00"
    engine.synthesize(TEXT, voice, "mp3")
    after = engine.usage()
    assert before.limit - after.limit == pytest.approx(len(TEXT.encode()) * 15e-6)
    assert standin.requests_to("GET", "/wallet/self/api-credit")[0].headers["authorization"] == f"Bearer {KEY}"


# -- errors ---------------------------------------------------------------------------------------


def test_a_wrong_key_is_an_auth_error_everywhere(url: str, standin, voice: str) -> None:
    with FishAudioEngine("wrong", url, timeout=10.0) as engine:
        calls = [
            lambda: engine.synthesize(TEXT, voice, "mp3"),
            lambda: list(engine.stream(TEXT, voice, "mp3")),
            lambda: engine.create_voice("X", [Sample("a.wav", tone_wav())]),
            engine.usage,
            lambda: engine.delete_voice(voice),
        ]
        for call in calls:
            with pytest.raises(ProviderAuthError, match="Invalid Token") as caught:
                call()
            assert caught.value.status == 401 and caught.value.provider == "fishaudio"


def test_forbidden_is_an_auth_error(engine: FishAudioEngine, standin, voice: str) -> None:
    standin.control.fail_next("forbidden")
    with pytest.raises(ProviderAuthError) as caught:
        engine.synthesize(TEXT, voice, "mp3")
    assert caught.value.status == 403


def test_an_empty_balance_is_a_quota_error(engine: FishAudioEngine, standin, voice: str) -> None:
    standin.credit = standin.credit * 0
    with pytest.raises(ProviderQuotaError, match="Insufficient API credit") as caught:
        engine.synthesize(TEXT, voice, "mp3")
    assert caught.value.status == 402
    standin.control.fail_next("no_credit", path="/model")
    with pytest.raises(ProviderQuotaError):
        engine.create_voice("X", [Sample("a.wav", tone_wav())])


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("0.5", 0.5), ("soon", None)])
def test_rate_limited_carries_retry_after(engine: FishAudioEngine, standin, voice, header, expected) -> None:
    standin.control.fail_next("rate_limited", retry_after=header)
    with pytest.raises(ProviderRateLimited) as caught:
        engine.synthesize(TEXT, voice, "mp3")
    assert caught.value.status == 429 and caught.value.retry_after == expected


def test_retry_after_as_an_http_date(engine: FishAudioEngine, standin, voice: str) -> None:
    standin.control.fail_next("rate_limited", retry_after=formatdate(time.time() + 30, usegmt=True))
    with pytest.raises(ProviderRateLimited) as caught:
        list(engine.stream(TEXT, voice, "pcm"))
    assert 25 <= caught.value.retry_after <= 31


@pytest.mark.parametrize(("speed", "text", "status"), [(3.0, TEXT, 422), (1.0, "   ", 400)])
def test_requests_the_provider_refuses_are_bad_requests(engine: FishAudioEngine, voice, speed, text, status) -> None:
    with pytest.raises(ProviderBadRequest) as caught:
        engine.synthesize(text, voice, "mp3", speed=speed)
    assert caught.value.status == status


def test_an_unknown_voice_is_voice_missing(engine: FishAudioEngine, standin, voice: str) -> None:
    with pytest.raises(VoiceMissing, match="Reference not found") as caught:
        engine.synthesize(TEXT, "0" * 32, "mp3")
    assert caught.value.status == 400
    standin.control.fail_next("unknown_reference")
    with pytest.raises(VoiceMissing):
        list(engine.stream(TEXT, voice, "pcm"))


def test_no_answer_in_time_is_a_timeout(url: str, standin, voice: str) -> None:
    with FishAudioEngine(KEY, url, timeout=0.3) as engine:
        standin.control.fail_next("slow", seconds=1.0)
        with pytest.raises(ProviderTimeout):
            engine.synthesize(TEXT, voice, "mp3")
        standin.control.fail_next("stall", seconds=1.0)
        stream = engine.stream(TEXT * 3, voice, "pcm")
        assert next(stream)
        with pytest.raises(ProviderTimeout):
            list(stream)
        standin.control.fail_next("slow", seconds=1.0)
        with pytest.raises(ProviderTimeout):
            engine.usage()


@pytest.mark.parametrize(("mode", "status"), [("server_error", 500), ("unavailable", 503)])
def test_5xx_is_a_server_error(engine: FishAudioEngine, standin, voice, mode, status) -> None:
    standin.control.fail_next(mode, times=3)
    for call in (
        lambda: engine.synthesize(TEXT, voice, "wav"),
        engine.usage,
        lambda: engine.create_voice("X", [Sample("a.wav", tone_wav())]),
    ):
        with pytest.raises(ProviderServerError) as caught:
            call()
        assert caught.value.status == status


def test_no_server_is_a_server_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with FishAudioEngine(KEY, f"http://127.0.0.1:{port}", timeout=2.0) as engine:
        with pytest.raises(ProviderServerError, match="connection failed"):
            engine.synthesize(TEXT, "v", "mp3")
        with pytest.raises(ProviderServerError):
            engine.usage()


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        ("mp3", "json"),
        ("mp3", "garbage"),
        ("wav", "garbage"),
        ("wav", "empty"),
        ("pcm", "json"),
        ("pcm", "empty"),
        ("pcm", "garbage"),
    ],
)
def test_a_200_that_is_not_audio_is_malformed(engine: FishAudioEngine, standin, voice, fmt, kind) -> None:
    standin.control.fail_next("malformed", times=2, kind=kind)
    with pytest.raises(ProviderServerError, match="malformed audio"):
        engine.synthesize(TEXT, voice, fmt)
    with pytest.raises(ProviderServerError, match="malformed audio"):
        list(engine.stream(TEXT, voice, fmt))


def test_wav_at_another_rate_than_asked_is_malformed(engine: FishAudioEngine, standin, voice: str) -> None:
    standin.control.fail_next("malformed", kind="wrong_rate")
    with pytest.raises(ProviderServerError, match="16000 Hz, asked 24000"):
        engine.synthesize(TEXT, voice, "wav", sample_rate=24000)


# -- the stand-in itself ----------------------------------------------------------------------------


def test_the_standin_accepts_the_official_sdks_msgpack_body(url: str, standin, voice: str) -> None:
    """What fish-audio-sdk 1.3 sends for tts.convert(format="wav"): every TTSRequest field, msgpack."""
    body = {
        "text": TEXT,
        "chunk_length": 200,
        "format": "wav",
        "mp3_bitrate": 128,
        "opus_bitrate": 32,
        "references": [],
        "reference_id": voice,
        "normalize": True,
        "latency": "balanced",
        "top_p": 0.7,
        "temperature": 0.7,
        "max_new_tokens": 1024,
        "repetition_penalty": 1.2,
        "min_chunk_length": 50,
        "condition_on_previous_chunks": True,
        "early_stop_threshold": 1.0,
    }
    answer = httpx.post(
        f"{url}/v1/tts",
        content=msgpack.packb(body),
        timeout=10,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/msgpack", "model": "s2-pro"},
    )
    assert answer.status_code == 200 and load_audio(answer.content).sample_rate == 44100
    assert standin.requests_to("POST", "/v1/tts")[-1].fields["latency"] == "balanced"


def _duration(data: bytes, fmt: str, rate: int) -> float:
    if fmt == "pcm":
        assert len(data) % 2 == 0
        return len(data) / 2 / rate
    info = soundfile.info(io.BytesIO(data))
    assert info.samplerate == rate and info.channels == 1
    return load_audio(data).duration
