"""A real service on a loopback port and Debian's Chromium, driven by Playwright, with a fake microphone.

Chromium plays a WAV file into getUserMedia (`--use-file-for-fake-audio-capture`), so the page
records real speech (LibriSpeech reader 2609) or silence through the browser's own MediaRecorder.
The browser comes from `scripts/browser.sh` (apt's chromium): Playwright's own download needs the
internet. Without it the tests fail, unless VOICE_AVATAR_TEST_NO_BROWSER=1 says to leave them out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from standins.server import running_server
from webtools import CHROMIUM, SPEECH_CLIPS, Service, Tab, write_fake_mic

from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = Settings(
        home=tmp_path_factory.mktemp("web") / "home", require_consent=False, pregenerate_phrases=["Hello!"]
    )
    with running_server(create_app(settings)) as url:
        yield Service(url, settings)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clips = [soundfile.read(p, dtype="float32") for p in SPEECH_CLIPS]
    joined = np.concatenate([samples for samples, _ in clips])
    return write_fake_mic(tmp_path_factory.mktemp("mic") / "speech.wav", joined, clips[0][1])


@pytest.fixture(scope="session")
def silence_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_mic(tmp_path_factory.mktemp("mic") / "silence.wav", np.zeros(10 * 16_000, np.float32), 16_000)


@pytest.fixture(scope="session")
def playwright() -> Iterator:
    if os.environ.get("VOICE_AVATAR_TEST_NO_BROWSER") == "1":
        pytest.skip("VOICE_AVATAR_TEST_NO_BROWSER=1")
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `bash scripts/browser.sh` (as root), "
            "or set VOICE_AVATAR_TEST_NO_BROWSER=1 to skip the browser tests",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def launch(playwright) -> Iterator[Callable[[Path], object]]:
    """Starts (once per microphone file) a headless Chromium whose microphone plays that file."""
    browsers: dict[Path, object] = {}

    def browser_for(mic: Path):
        if mic not in browsers:
            browsers[mic] = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={mic}",
                    "--autoplay-policy=no-user-gesture-required",
                    "--no-sandbox",
                ],
            )
        return browsers[mic]

    yield browser_for
    for browser in browsers.values():
        browser.close()


@pytest.fixture
def tab(launch, speech_wav: Path) -> Iterator[Tab]:
    """A tab whose microphone reads speech."""
    opened = Tab(launch(speech_wav))
    yield opened
    opened.context.close()
