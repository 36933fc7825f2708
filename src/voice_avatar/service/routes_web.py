"""The browser's side of the service: the onboarding page, the admin dashboard and the JSON they need.

Pages and their scripts ship inside the package (`service/web/`) and are served from it, so the
pages work offline and on a machine with no CDN. The JSON routes exist for the pages but are plain
API routes: `POST /v1/samples/check` gives immediate feedback on a recording before anything is
stored, and `GET /v1/reports/history` adds to each daily report the latency by engine that the
report itself does not carry.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from voice_avatar.db import UsageEvent, User
from voice_avatar.jobs import enrollment_options
from voice_avatar.reports import daily_report, day_bounds
from voice_avatar.service.auth import admin_user, current_user
from voice_avatar.service.errors import ApiError
from voice_avatar.service.routes_avatars import _read as read_upload  # one upload limit for every route

router = APIRouter()

WEB = files("voice_avatar.service") / "web"
_ASSET_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.(js|css|svg)$")  # no dots or slashes: nothing outside web/
_MEDIA = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
#: Read aloud while recording: original text (no licence to track), with the sounds of English in it.
PROMPT_TEXT = (
    "Every morning I check the weather before I leave the house. If the sky looks grey, I pack an "
    "umbrella and a warm jacket, just in case. On the way to work I pass a small bakery that smells of "
    "fresh bread and coffee, and sometimes I stop to buy a cheese roll. My friends say I talk too "
    "quickly when I am excited, so today I am trying to speak clearly, at an even pace, as if I were "
    "reading a story to a child. Numbers are tricky too: three hundred and sixty-five days, twelve "
    "months, and fifty-two weeks make a year."
)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def onboarding_page() -> HTMLResponse:
    return HTMLResponse(_page("index.html"))


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page() -> HTMLResponse:
    return HTMLResponse(_page("dashboard.html"))


@router.get("/static/{name}", include_in_schema=False)
def static_asset(name: str) -> Response:
    match = _ASSET_RE.match(name)
    asset = WEB / name
    if not match or not asset.is_file():
        raise ApiError(404, "not_found", f"no static file {name!r}")
    return Response(asset.read_bytes(), media_type=_MEDIA[match.group(1)], headers={"Cache-Control": "no-cache"})


@router.get("/v1/onboarding")
def onboarding(request: Request, user: User = Depends(current_user)) -> dict:
    """What the page needs before recording: how much speech this tier needs and whether consent is asked."""
    settings = request.app.state.settings
    options = enrollment_options(settings, user.tier, surface="service")
    return {
        "tier": user.tier,
        "min_speech_seconds": options.sample_thresholds.min_speech_seconds,
        "consent_required": options.require_consent,
        "prompt_text": PROMPT_TEXT,
    }


@router.post("/v1/samples/check")
async def check_samples(
    request: Request, samples: list[UploadFile] = File(...), user: User = Depends(current_user)
) -> dict:
    """The checks enrollment will run, with the same thresholds, so a person can fix a recording at once."""
    settings = request.app.state.settings
    uploads = [await read_upload(request, f) for f in samples]
    thresholds = enrollment_options(settings, user.tier, surface="service").sample_thresholds
    return await run_in_threadpool(_check, uploads, thresholds)


@router.get("/v1/reports/history")
def report_history(request: Request, days: int = Query(7, ge=1, le=90), _: User = Depends(admin_user)) -> list:
    """The daily reports of the last `days` UTC days, oldest first, each with `latency_by_engine`."""
    today = datetime.now(UTC).date()
    settings = request.app.state.settings
    history = []
    with request.app.state.sessions() as session:
        for offset in range(days - 1, -1, -1):
            day = today - timedelta(days=offset)
            report = daily_report(session, settings, day)
            report["latency_by_engine"] = latency_by_engine(session, day)
            history.append(report)
    return history


def latency_by_engine(session: Session, day: date) -> dict[str, dict]:
    """Mean and worst latency per engine, misses apart from cache hits (a hit's few ms would hide synthesis)."""
    start, end = day_bounds(day)
    rows = session.execute(
        select(
            UsageEvent.engine,
            UsageEvent.cache_hit,
            func.count(),
            func.avg(UsageEvent.latency_ms),
            func.max(UsageEvent.latency_ms),
        )
        .where(UsageEvent.created_at >= start, UsageEvent.created_at < end)
        .group_by(UsageEvent.engine, UsageEvent.cache_hit)
    ).all()
    result: dict[str, dict] = {}
    for engine, cache_hit, count, mean, worst in sorted(rows, key=lambda r: (r[0], r[1])):
        result.setdefault(engine, {})["hit" if cache_hit else "miss"] = {
            "messages": int(count),
            "mean_ms": round(float(mean), 1),
            "max_ms": int(worst),
        }
    return result


def _check(uploads, thresholds) -> dict:
    from voice_avatar.audio import load_audio
    from voice_avatar.quality.sample_checks import check_sample

    recordings = [load_audio(u.data, name=u.filename) for u in uploads]  # unreadable: 415, file named
    return check_sample(recordings, thresholds).to_json()


def _page(name: str) -> str:
    return (WEB / name).read_text(encoding="utf-8")
