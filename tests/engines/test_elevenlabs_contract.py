"""The ElevenLabs client against a stand-in that follows ElevenLabs' documented API, over real HTTP.

Checks what goes on the wire (paths, query, JSON, multipart field names, the key header), that
every format decodes at the asked rate, that streams arrive in pieces, and that each failure the
API documents lands in the right class of the router's error taxonomy.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import numpy as np
import pytest
import soundfile
from standins.elevenlabs import StandinControl, make_elevenlabs_standin
from standins.server import running_server

from voice_avatar.audio import load_audio
from voice_avatar.engines.cloud.base import (
    Action,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    Sample,
    VoiceMissing,
)
from voice_avatar.engines.cloud.elevenlabs import ElevenLabsEngine, _retry_after
from voice_avatar.settings import Settings

TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[str, StandinControl]]:
    app = make_elevenlabs_standin()
    with running_server(app) as base_url:
        yield base_url, app.state.control


@pytest.fixture
def control(standin: tuple[str, StandinControl]) -> StandinControl:
    standin[1].reset()
    return standin[1]


@pytest.fixture
def engine(standin: tuple[str, StandinControl], control: StandinControl) -> Iterator[ElevenLabsEngine]:
    with ElevenLabsEngine(control.api_key, standin[0], "eleven_flash_v2_5", timeout=5.0) as client:
        yield client


@pytest.fixture
def voice(control: StandinControl) -> str:
    return control.add_voice("Reader")


def test_settings_build_the_engine_only_with_a_key(tmp_path) -> None:
    assert ElevenLabsEngine.from_settings(Settings(home=tmp_path)) is None
    settings = Settings(home=tmp_path, elevenlabs_api_key="k", elevenlabs_model_id="eleven_multilingual_v2")
    with ElevenLabsEngine.from_settings(settings) as engine:
        assert engine.name == "elevenlabs" and engine.model_id == "eleven_multilingual_v2"


def test_create_voice_uploads_every_sample_as_a_files_part(engine: ElevenLabsEngine, control: StandinControl) -> None:
    samples = [Sample("one.flac", b"fLaC-first"), Sample("two.wav", b"RIFF-second")]
    voice_id = engine.create_voice("Reader", samples)
    assert control.voices[voice_id] == "Reader"
    sent = control.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/voices/add")
    assert sent.headers["xi-api-key"] == control.api_key
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert sorted(sent.form_fields) == ["files", "files", "name"]
    assert sent.filenames == ["one.flac", "two.wav"]


def test_standin_also_takes_files_brackets_as_in_the_docs_curl(standin, control: StandinControl) -> None:
    answer = httpx.post(
        f"{standin[0]}/v1/voices/add",
        headers={"xi-api-key": control.api_key},
        data={"name": "Curl"},
        files=[("files[]", ("a.mp3", b"ID3", "audio/mpeg"))],
    )
    assert answer.status_code == 200 and control.voices[answer.json()["voice_id"]] == "Curl"


def test_synthesize_sends_the_documented_request(engine: ElevenLabsEngine, control: StandinControl, voice: str) -> None:
    engine.synthesize(TEXT, voice, "mp3", speed=1.1)
    sent = control.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"/v1/text-to-speech/{voice}")
    assert sent.query == {"output_format": "mp3_44100_128"}
    assert sent.headers["xi-api-key"] == control.api_key
    assert sent.json == {"text": TEXT, "model_id": "eleven_flash_v2_5", "voice_settings": {"speed": 1.1}}


@pytest.mark.parametrize(
    ("fmt", "rate", "output_format"),
    [
        ("mp3", 24000, "mp3_44100_128"),
        ("wav", 16000, "wav_16000"),
        ("wav", 24000, "wav_24000"),
        ("pcm", 22050, "pcm_22050"),
    ],
)
def test_each_format_decodes_at_the_asked_rate(
    engine: ElevenLabsEngine, control: StandinControl, voice: str, fmt: str, rate: int, output_format: str
) -> None:
    data = engine.synthesize(TEXT, voice, fmt, sample_rate=rate)
    assert control.requests[-1].query["output_format"] == output_format
    expected_rate = 44100 if fmt == "mp3" else rate
    samples, got_rate = _decode(data, fmt, rate)
    assert got_rate == expected_rate
    assert len(samples) / got_rate > 1.0 and np.abs(samples).max() > 0.05  # real speech, not silence


def test_stream_arrives_in_pieces_that_make_one_mp3(
    engine: ElevenLabsEngine, control: StandinControl, voice: str
) -> None:
    pieces = list(engine.stream(TEXT, voice, "mp3"))
    assert len(pieces) > 1
    assert control.requests[-1].path == f"/v1/text-to-speech/{voice}/stream"
    assert control.requests[-1].query == {"output_format": "mp3_44100_128"}
    audio = load_audio(b"".join(pieces))
    assert audio.sample_rate == 44100 and audio.duration > 1.0


def test_streamed_pcm_pieces_never_split_a_sample(
    engine: ElevenLabsEngine, control: StandinControl, voice: str
) -> None:
    pieces = list(engine.stream(TEXT, voice, "pcm", sample_rate=16000))
    assert control.requests[-1].query == {"output_format": "pcm_16000"}
    assert len(pieces) > 1 and all(len(piece) % 2 == 0 for piece in pieces)
    samples, _ = _decode(b"".join(pieces), "pcm", 16000)
    assert len(samples) / 16000 > 1.0


def test_streamed_wav_is_pcm_behind_our_header(engine: ElevenLabsEngine, control: StandinControl, voice: str) -> None:
    pieces = list(engine.stream(TEXT, voice, "wav", sample_rate=24000))
    assert control.requests[-1].query == {"output_format": "pcm_24000"}  # /stream has no wav_*
    assert len(pieces) > 1 and pieces[0][:4] == b"RIFF"
    audio = load_audio(b"".join(pieces))
    assert audio.sample_rate == 24000 and audio.duration > 1.0


def test_usage_reads_the_subscription(engine: ElevenLabsEngine, control: StandinControl, voice: str) -> None:
    engine.synthesize(TEXT, voice, "mp3")
    usage = engine.usage()
    assert control.requests[-1].path == "/v1/user/subscription"
    assert (usage.used, usage.limit, usage.unit) == (len(TEXT), 100_000, "characters")
    assert usage.raw["status"] == "active"


def test_delete_voice_is_quiet_when_the_voice_is_already_gone(
    engine: ElevenLabsEngine, control: StandinControl, voice: str
) -> None:
    engine.delete_voice(voice)
    assert voice not in control.voices
    assert (control.requests[-1].method, control.requests[-1].path) == ("DELETE", f"/v1/voices/{voice}")
    engine.delete_voice(voice)  # 400 voice_not_found
    control.fail_next("not_found")
    engine.delete_voice(voice)  # 404


def test_a_wrong_key_is_an_auth_error(standin, control: StandinControl, voice: str) -> None:
    with ElevenLabsEngine("not-the-key", standin[0]) as engine, pytest.raises(ProviderAuthError) as caught:
        engine.synthesize(TEXT, voice, "mp3")
    assert caught.value.status == 401 and "invalid_api_key" in str(caught.value)


@pytest.mark.parametrize("kind", ["quota_exceeded", "quota_exceeded_400", "payment_required"])
def test_quota_and_payment_failures_are_quota_errors(
    engine: ElevenLabsEngine, control: StandinControl, voice: str, kind: str
) -> None:
    control.fail_next(kind)
    with pytest.raises(ProviderQuotaError):
        engine.synthesize(TEXT, voice, "mp3")


def test_running_out_of_characters_is_a_quota_error(
    engine: ElevenLabsEngine, control: StandinControl, voice: str
) -> None:
    control.character_limit = len(TEXT) - 1
    with pytest.raises(ProviderQuotaError, match="quota"):
        engine.synthesize(TEXT, voice, "mp3")


def test_rate_limits_carry_retry_after(engine: ElevenLabsEngine, control: StandinControl, voice: str) -> None:
    control.fail_next("rate_limited", retry_after=7)
    with pytest.raises(ProviderRateLimited) as caught:
        engine.synthesize(TEXT, voice, "mp3")
    assert caught.value.retry_after == 7.0 and caught.value.action is Action.RETRY
    control.fail_next("system_busy")
    with pytest.raises(ProviderRateLimited) as caught:
        list(engine.stream(TEXT, voice, "mp3"))
    assert caught.value.retry_after is None and "system_busy" in str(caught.value)


def test_retry_after_may_be_an_http_date_or_milliseconds() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < _retry_after(httpx.Headers({"retry-after": later})) <= 30
    assert _retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert _retry_after(httpx.Headers({"retry-after": "soon"})) is None


@pytest.mark.parametrize("kind", ["bad_request", "validation"])
def test_refused_requests_are_bad_requests(
    engine: ElevenLabsEngine, control: StandinControl, voice: str, kind: str
) -> None:
    control.fail_next(kind)
    with pytest.raises(ProviderBadRequest) as caught:
        engine.synthesize(TEXT, voice, "mp3")
    assert ("seed" if kind == "bad_request" else "body.text: Field required") in str(caught.value)


def test_too_long_text_is_a_bad_request(engine: ElevenLabsEngine, voice: str) -> None:
    with pytest.raises(ProviderBadRequest, match="max_character_limit_exceeded"):
        engine.synthesize("a" * 40_001, voice, "mp3")


def test_unsupported_rate_is_refused_before_any_request(
    engine: ElevenLabsEngine, control: StandinControl, voice: str
) -> None:
    with pytest.raises(ProviderBadRequest, match="12345"):
        engine.synthesize(TEXT, voice, "pcm", sample_rate=12345)
    assert control.requests == []


def test_an_unknown_voice_is_voice_missing(engine: ElevenLabsEngine, control: StandinControl, voice: str) -> None:
    with pytest.raises(VoiceMissing) as caught:
        engine.synthesize(TEXT, "no-such-voice", "mp3")
    assert caught.value.status == 400 and caught.value.action is Action.RECREATE_VOICE
    control.fail_next("not_found")
    with pytest.raises(VoiceMissing):
        list(engine.stream(TEXT, voice, "pcm"))


def test_no_answer_in_time_is_a_timeout(standin, control: StandinControl, voice: str) -> None:
    control.slow_seconds = 1.0
    with ElevenLabsEngine(control.api_key, standin[0], timeout=0.3) as engine:
        control.fail_next("slow")
        with pytest.raises(ProviderTimeout):
            engine.synthesize(TEXT, voice, "mp3")
        control.fail_next("stall")
        pieces = engine.stream(TEXT, voice, "mp3")
        assert next(pieces)  # the first piece came; then the provider went quiet
        with pytest.raises(ProviderTimeout):
            list(pieces)


@pytest.mark.parametrize("kind", ["server_error", "bad_gateway"])
def test_server_faults_are_server_errors(
    engine: ElevenLabsEngine, control: StandinControl, voice: str, kind: str
) -> None:
    control.fail_next(kind, times=2)
    with pytest.raises(ProviderServerError) as caught:
        engine.synthesize(TEXT, voice, "mp3")
    assert caught.value.status in (500, 502)
    assert ("something_went_wrong" if kind == "server_error" else "Bad Gateway") in str(caught.value)
    with pytest.raises(ProviderServerError):
        engine.usage()


def test_a_refused_connection_is_a_server_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ElevenLabsEngine("key", f"http://127.0.0.1:{port}", timeout=2) as engine, pytest.raises(ProviderServerError):
        engine.usage()


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        ("malformed_json", "mp3"),
        ("malformed_json", "pcm"),
        ("malformed_html", "mp3"),
        ("malformed_html", "pcm"),
        ("malformed_empty", "wav"),
        ("wrong_container", "mp3"),
        ("wrong_container", "pcm"),
        ("odd_pcm", "pcm"),
    ],
)
def test_a_200_without_the_asked_audio_is_malformed(
    engine: ElevenLabsEngine, control: StandinControl, voice: str, kind: str, fmt: str
) -> None:
    control.fail_next(kind)
    with pytest.raises(ProviderServerError, match="malformed audio"):
        engine.synthesize(TEXT, voice, fmt, sample_rate=16000)


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        ("malformed_json", "mp3"),
        ("malformed_html", "pcm"),
        ("malformed_empty", "mp3"),
        ("wrong_container", "wav"),
        ("odd_pcm", "pcm"),
    ],
)
def test_a_stream_without_the_asked_audio_is_malformed(
    engine: ElevenLabsEngine, control: StandinControl, voice: str, kind: str, fmt: str
) -> None:
    control.fail_next(kind)
    with pytest.raises(ProviderServerError, match="malformed audio"):
        b"".join(engine.stream(TEXT, voice, fmt, sample_rate=16000))


def _decode(data: bytes, fmt: str, rate: int) -> tuple[np.ndarray, int]:
    if fmt == "pcm":
        assert len(data) % 2 == 0
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0, rate
    samples, got_rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return samples, got_rate
