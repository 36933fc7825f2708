"""The onboarding page in a real Chromium: record through the microphone, check, enroll, speak.

The fake microphone plays real speech (or silence), so the recording goes through getUserMedia,
MediaRecorder (WebM/Opus) and the server's decoder exactly as a person's would.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect
from standins.server import running_server
from webtools import SPEECH_CLIPS, Service, Tab

from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings

RECORD_SECONDS = 26  # the fake microphone's file is ~29 s; the free tier needs 10 s of speech
ENROLL_TIMEOUT_MS = 240_000


def connect(tab: Tab, service: Service, key: str) -> None:
    page = tab.page
    page.goto(service.url + "/")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Continue").click()


def test_record_check_create_and_speak(tab: Tab, service: Service) -> None:
    page = tab.page
    page.goto(service.url + "/")
    expect(page).to_have_title("Create your voice avatar")
    page.get_by_label("API key", exact=True).fill(service.new_key("Speaker"))
    tab.screenshot("onboarding-1-key.png")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Read this aloud")).to_be_focused()
    expect(page.locator("#prompt-text")).to_contain_text("weather")
    expect(page.locator("#tier-note")).to_contain_text("at least 10 seconds")

    page.get_by_role("button", name="Start recording").click()
    expect(page.get_by_role("button", name="Stop recording")).to_be_enabled()
    page.wait_for_function("() => document.getElementById('level').value > 0.3", timeout=10_000)  # the meter moves
    page.wait_for_timeout(6_000)
    tab.screenshot("onboarding-2-recording.png")
    page.wait_for_function(
        f"() => document.getElementById('timer').textContent.startsWith('0:{RECORD_SECONDS}')",
        timeout=(RECORD_SECONDS + 10) * 1000,
    )
    page.get_by_role("button", name="Stop recording").click()

    expect(page.locator("#check-summary")).to_contain_text("passed every check", timeout=60_000)
    rows = page.locator("#checks tbody tr")
    expect(rows).to_have_count(5)
    expect(page.locator("#checks tbody tr.fail")).to_have_count(0)
    expect(page.locator("tr[data-check=speech_duration] td").nth(1)).to_have_text(re.compile(r"^1\d|^2\d"))
    tab.screenshot("onboarding-3-recorded.png")

    page.get_by_role("button", name="Create avatar").click()
    page.wait_for_function("() => document.getElementById('create-progress').value > 0.05", timeout=60_000)
    expect(page.locator("#stage")).not_to_be_empty()
    tab.screenshot("onboarding-4-progress.png")
    expect(page.locator("#outcome")).to_contain_text("Your avatar is ready.", timeout=ENROLL_TIMEOUT_MS)
    expect(page.locator("#outcome dl.scores")).to_contain_text("Similarity to your recording")
    expect(page.get_by_role("heading", name="Hear your avatar")).to_be_focused()
    tab.screenshot("onboarding-5-ready.png")

    page.get_by_label("Text to speak").fill("Your table for two is booked at 7:30 PM tomorrow.")
    page.get_by_role("button", name="Speak").click()
    page.wait_for_function(
        "() => { const a = document.getElementById('player');"
        " return a.src.startsWith('blob:') && a.readyState >= 1 && a.duration > 0 && !a.error; }"
    )
    player = page.locator("#player")
    duration = player.evaluate("a => a.duration")
    assert 1.5 < duration < 10, duration
    assert player.evaluate("a => a.canPlayType('audio/wav')") != ""
    expect(page.locator("#status")).to_contain_text("Here is your avatar")
    tab.screenshot("onboarding-6-spoken.png")

    page.get_by_role("button", name="Record again").click()
    expect(page.get_by_role("button", name="Start recording")).to_be_focused()
    expect(page.locator("#step-speak")).to_be_hidden()
    expect(page.get_by_label("Avatar name")).to_have_value("My voice 2")  # the first keeps its name
    assert tab.errors == []


def test_a_silent_recording_gets_the_speech_duration_advice(launch, silence_wav: Path, service: Service) -> None:
    tab = Tab(launch(silence_wav))
    try:
        page = tab.page
        connect(tab, service, service.new_key("Quiet"))
        page.get_by_role("button", name="Start recording").click()
        page.wait_for_timeout(3_000)
        assert page.locator("#level").evaluate("m => m.value") < 0.05  # the meter shows silence
        page.get_by_role("button", name="Stop recording").click()
        summary = page.locator("#check-summary")
        expect(summary).to_contain_text("Not fit for cloning yet", timeout=60_000)
        expect(summary).to_contain_text("record at least 10 s of you talking")
        duration = page.locator("tr[data-check=speech_duration]")
        expect(duration).to_have_class("fail")
        expect(duration).to_contain_text("read the prompt aloud")
        expect(page.locator("#status")).to_contain_text("record at least 10 s")
        expect(page.get_by_role("button", name="Create avatar")).to_be_hidden()
        tab.screenshot("silent-advice.png")
        assert tab.errors == []
    finally:
        tab.context.close()


def test_a_wrong_key_gets_a_clear_message(tab: Tab, service: Service) -> None:
    page = tab.page
    connect(tab, service, "va_not-a-real-key")
    status = page.get_by_role("status")
    expect(status).to_contain_text("That API key was not accepted")
    expect(status).to_contain_text("not valid (unknown or revoked)")
    expect(page.get_by_label("API key", exact=True)).to_be_focused()
    expect(page.locator("#step-record")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('voice-avatar-key')") is None  # a refused key is not kept
    tab.screenshot("wrong-key.png")
    # Chromium logs every 401 response as a console error; that one is expected, nothing else is.
    assert [e for e in tab.errors if "status of 401" not in e] == []


def test_keyboard_order_and_accessible_names(tab: Tab, service: Service) -> None:
    page = tab.page
    page.goto(service.url + "/")

    def focused() -> str:
        return page.evaluate("document.activeElement.id")

    page.keyboard.press("Tab")
    assert focused() == "api-key"
    page.keyboard.type(service.new_key("Keys"))
    page.keyboard.press("Tab")
    assert focused() == "connect"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Read this aloud")).to_be_focused()
    order = []
    for _ in range(2):
        page.keyboard.press("Tab")
        order.append(focused())
    assert order == ["record-start", "sample-file"]  # Stop is disabled until recording starts

    expect(page.get_by_label("API key", exact=True)).to_have_count(1)
    for label in ("Upload a recording", "Microphone level", "Recorded", "Avatar name", "Text to speak"):
        expect(page.get_by_label(label, exact=True)).to_have_count(1)
    for name in ("Continue", "Start recording", "Stop recording", "Record again", "Create avatar", "Speak"):
        expect(page.get_by_role("button", name=name, exact=True, include_hidden=True)).to_have_count(1)
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input, button, textarea, select, meter, progress, audio')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.id || el.outerHTML)"""
    )
    assert unnamed == []
    assert page.evaluate("[...document.querySelectorAll('[onclick], a[href=\"#\"], div[role=button]')].length") == 0
    assert tab.errors == []


def test_an_uploaded_sample_then_a_recorded_consent_that_does_not_match(
    launch, speech_wav: Path, tmp_path: Path
) -> None:
    """The service's default asks for consent; the fake microphone reads a book, not the phrase."""
    settings = Settings(home=tmp_path / "home", pregenerate_phrases=[])
    with running_server(create_app(settings)) as url:
        service = Service(url, settings)
        tab = Tab(launch(speech_wav))
        try:
            page = tab.page
            connect(tab, service, service.new_key("Consenting"))
            page.get_by_label("Upload a recording", exact=True).set_input_files(SPEECH_CLIPS[1])
            expect(page.locator("#check-summary")).to_contain_text("passed every check", timeout=60_000)
            expect(page.get_by_role("heading", name="Your consent")).to_be_focused()
            expect(page.locator("#consent-phrase")).to_contain_text("My code is")
            expect(page.get_by_role("button", name="Create avatar")).to_be_hidden()

            page.get_by_role("button", name="Record consent").click()
            page.wait_for_timeout(4_000)
            page.get_by_role("button", name="Stop consent recording").click()
            expect(page.locator("#status")).to_contain_text("Consent recorded")
            page.get_by_role("button", name="Create avatar").click()
            outcome = page.locator("#outcome")
            expect(outcome).to_contain_text("Your avatar could not be made", timeout=ENROLL_TIMEOUT_MS)
            expect(outcome).to_contain_text(re.compile("consent refused", re.IGNORECASE))
            expect(page.locator("#step-speak")).to_be_hidden()
            tab.screenshot("consent-refused.png")
            assert tab.errors == []
        finally:
            tab.context.close()
