"""Helpers for the browser tests: the running service, a watched tab, the fake microphone's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from voice_avatar.accounts import create_user
from voice_avatar.settings import Settings
from voice_avatar.store import sessions_for

CHROMIUM = Path("/usr/bin/chromium")
VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"
SPEECH_CLIPS = [sorted((VOICES / "2609").glob("*.flac"))[i] for i in (2, 4)]  # about 29 s of one reader
SCREENS = Path(__file__).resolve().parents[2] / "bench" / "results" / "screens"
FAKE_MIC_RATE = 48_000  # Chromium's capture rate; a file at it is played without resampling


class Service:
    """The running app: its base URL, its settings, and a way to make users."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url, self.settings = url, settings

    def new_key(self, name: str = "web", tier: str = "free", admin: bool = False) -> str:
        with sessions_for(self.settings).begin() as session:
            _, key = create_user(session, name, tier, admin, plans=self.settings.tiers)
            return key


def write_fake_mic(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit PCM mono at 48 kHz: what Chromium's fake capture device reads."""
    soundfile.write(path, resample_poly(samples, FAKE_MIC_RATE, rate).astype(np.float32), FAKE_MIC_RATE, "PCM_16")
    return path


class Tab:
    """A page in a fresh browser context that keeps every console error and uncaught exception."""

    def __init__(self, browser) -> None:
        self.context = browser.new_context(viewport={"width": 1100, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def screenshot(self, name: str) -> None:
        SCREENS.mkdir(parents=True, exist_ok=True)
        self.page.evaluate("window.scrollTo(0, 0)")  # else the sticky status bar lands mid-picture
        self.page.screenshot(path=str(SCREENS / name), full_page=True)
