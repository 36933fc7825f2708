"""The admin dashboard in a real Chromium, over a week of usage written to the real ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from webtools import Service, Tab

from voice_avatar.accounts import create_user
from voice_avatar.billing import record_usage
from voice_avatar.store import sessions_for

ENGINES = (("Ann", "elevenlabs", 700), ("Bob", "fishaudio", 450), ("Cat", "local", 1200))
CHARTS = ("chart-generations", "chart-hit-rate", "chart-latency", "chart-mix", "chart-users", "chart-margins")


@pytest.fixture(scope="module")
def week_of_usage(service: Service) -> dict[str, str]:
    """Three users on three engines for seven days; Ann's ElevenLabs use sets off today's cost alert."""
    settings = service.settings
    now = datetime.now(UTC).replace(hour=0, minute=30)
    with sessions_for(settings).begin() as session:
        users = {
            name: create_user(session, name, tier, plans=settings.tiers)[0]
            for name, tier in (("Ann", "premium"), ("Bob", "starter"), ("Cat", "free"))
        }
        for days_ago in range(7):
            moment = now - timedelta(days=days_ago)
            for i in range(3 + days_ago):
                for name, engine, latency in (
                    ("Ann", "elevenlabs", 700),
                    ("Bob", "fishaudio", 450),
                    ("Cat", "local", 1200),
                ):
                    hit = i % 3 == 0
                    record_usage(
                        session,
                        user=users[name],
                        engine=engine,
                        characters=120,
                        cache_hit=hit,
                        latency_ms=4 if hit else latency + 40 * days_ago + 10 * i,
                        now=moment + timedelta(minutes=i),
                        rates=settings.engine_cost_per_1k_chars,
                    )
        record_usage(
            session,
            user=users["Ann"],
            engine="elevenlabs",
            characters=6000,
            cache_hit=False,
            latency_ms=2500,
            now=now + timedelta(minutes=30),
            rates=settings.engine_cost_per_1k_chars,
        )
    return {name: user.id for name, user in users.items()}


def test_the_dashboard_draws_the_reports(tab: Tab, service: Service, week_of_usage: dict[str, str]) -> None:
    page = tab.page
    page.goto(service.url + "/dashboard")
    page.get_by_label("Admin API key").fill(service.new_key("Admin", admin=True))
    page.get_by_label("Days").select_option("7")
    page.get_by_role("button", name="Show dashboard").click()
    expect(page.get_by_role("heading", name="The last 7 days")).to_be_focused()

    for chart in CHARTS:
        svg = page.locator(f"#{chart} svg[role=img]")
        expect(svg).to_have_count(1)
        assert svg.get_attribute("data-empty") is None, chart
    expect(page.locator("#chart-generations rect")).to_have_count(7 * 2)  # hits and misses, per day
    expect(page.locator("#chart-latency path")).to_have_count(3)  # one line per engine
    expect(page.locator("#chart-latency .legend li")).to_have_text(["elevenlabs", "fishaudio", "local"])
    expect(page.locator("#chart-users svg")).to_contain_text("Ann (premium)")
    expect(page.locator("#chart-margins svg")).to_contain_text("premium")
    expect(page.locator("#alerts")).to_contain_text("cost alert: user")
    expect(page.locator("#alerts")).to_contain_text("Ann")
    summary = page.get_by_role("table", name="Summary")
    expect(summary.get_by_role("row", name="Generations")).to_be_visible()
    expect(page.get_by_role("table", name="Service mix")).to_contain_text("elevenlabs")
    expect(page.get_by_role("table", name="Margins per tier")).to_contain_text("premium")
    tab.screenshot("dashboard.png")
    assert tab.errors == []


def test_the_dashboard_tells_a_non_admin_why_not(tab: Tab, service: Service) -> None:
    page = tab.page
    page.goto(service.url + "/dashboard")
    page.get_by_label("Admin API key").fill(service.new_key("Plain"))
    page.get_by_role("button", name="Show dashboard").click()
    expect(page.get_by_role("status")).to_contain_text(
        "This key cannot see the dashboard: this route is for administrators"
    )
    expect(page.locator("#board")).to_be_hidden()
    assert [e for e in tab.errors if "status of 403" not in e] == []
