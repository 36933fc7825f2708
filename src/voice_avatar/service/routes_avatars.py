"""Avatars over HTTP: upload a sample (202, fitted by a worker), watch its status, list, delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from voice_avatar import audit
from voice_avatar.db import ConsentChallenge, User
from voice_avatar.enrollment import Upload, add_inputs, require_consent_input
from voice_avatar.errors import InputError
from voice_avatar.jobs import enrollment_options
from voice_avatar.quality.consent import new_challenge
from voice_avatar.service.auth import current_user
from voice_avatar.store import AvatarRecord, open_store

router = APIRouter(prefix="/v1")
#: An issued consent phrase must be read and uploaded within this time.
CHALLENGE_LIFETIME = timedelta(hours=1)


def avatar_json(record: AvatarRecord) -> dict:
    body = record.to_json()
    body.pop("owner_id", None)
    body["samples"] = len(record.samples)
    if record.consent:
        body["consent"] = {k: v for k, v in record.consent.items() if k in ("phrase", "heard", "voice_similarity")}
    return body


@router.post("/avatars", status_code=202)
async def create_avatar(
    request: Request,
    name: str = Form(...),
    samples: list[UploadFile] = File(...),
    consent: UploadFile | None = File(None),
    phrase_id: str | None = Form(None),
    user: User = Depends(current_user),
) -> JSONResponse:
    settings = request.app.state.settings
    uploads = [await _read(request, f) for f in samples]
    consent_upload = await _read(request, consent) if consent is not None else None
    options = enrollment_options(settings, user.tier, surface="service")
    require_consent_input(options, consent_upload)
    store = open_store(settings, user.id)
    store.ensure_name_free(name)
    await run_in_threadpool(_check_readable, uploads + ([consent_upload] if consent_upload else []))
    phrase, code = _claim_challenge(request, user, phrase_id) if consent_upload else (None, None)
    record = store.create(name, engine="local")
    try:
        await run_in_threadpool(add_inputs, store, record, uploads, consent_upload, phrase, code)
        with request.app.state.sessions.begin() as session:
            detail = {"name": record.name, "samples": len(uploads), "consent": consent_upload is not None}
            audit.record(session, user.id, "avatar.enroll", "avatar", record.id, **detail)
    except BaseException:
        store.delete(record.id)
        raise
    request.app.state.queue.enqueue_enrollment(record.id, user.id, user.tier)
    return JSONResponse({"id": record.id, "name": record.name, "status": record.status}, status_code=202)


@router.get("/avatars")
def list_avatars(request: Request, user: User = Depends(current_user)) -> dict:
    return {"avatars": [avatar_json(r) for r in open_store(request.app.state.settings, user.id).list()]}


@router.get("/avatars/{avatar_id}")
def get_avatar(avatar_id: str, request: Request, user: User = Depends(current_user)) -> dict:
    return avatar_json(open_store(request.app.state.settings, user.id).get(avatar_id))


@router.delete("/avatars/{avatar_id}")
def delete_avatar(avatar_id: str, request: Request, user: User = Depends(current_user)) -> dict:
    """Samples, profile, cached audio and provider clones go; the answer says what was removed.

    A provider clone that could not be deleted leaves `complete: false` (see `voice_avatar.deletion`).
    """
    from voice_avatar.deletion import delete_avatar as delete_everything

    state = request.app.state
    store = open_store(state.settings, user.id)
    record = delete_everything(store, avatar_id, state.voices.cache, state.router.cloud)
    with request.app.state.sessions.begin() as session:
        audit.forget_names(session, "avatar", [record.id])
        audit.record(session, user.id, "avatar.delete", "avatar", record.id)
    return record.to_json()


@router.get("/consent/phrase")
def consent_phrase(request: Request, user: User = Depends(current_user)) -> dict:
    """A fresh phrase with a random code, valid for one enrollment within the hour."""
    challenge = new_challenge()
    with request.app.state.sessions.begin() as session:
        row = ConsentChallenge(user_id=user.id, phrase=challenge.text, code=challenge.code)
        session.add(row)
        session.flush()
        return {
            "phrase_id": row.id,
            "phrase": challenge.text,
            "expires_at": (row.created_at + CHALLENGE_LIFETIME).isoformat(timespec="seconds"),
        }


def _claim_challenge(request: Request, user: User, phrase_id: str | None) -> tuple[str, str]:
    """The phrase and code of an unused, unexpired challenge issued to this user; used up by this call."""
    if not phrase_id:
        raise InputError("a consent recording needs the phrase_id of the phrase it reads (GET /v1/consent/phrase)")
    with request.app.state.sessions.begin() as session:
        row = session.scalar(
            select(ConsentChallenge)
            .where(ConsentChallenge.id == phrase_id, ConsentChallenge.user_id == user.id)
            .with_for_update()
        )
        if row is None:
            raise InputError(f"unknown consent phrase_id {phrase_id!r}: ask GET /v1/consent/phrase for one")
        if row.used_at is not None:
            raise InputError("this consent phrase was already used: ask for a new one")
        now = datetime.now(UTC)
        if now - row.created_at > CHALLENGE_LIFETIME:
            raise InputError("this consent phrase has expired: ask for a new one")
        row.used_at = now
        return row.phrase, row.code


async def _read(request: Request, upload: UploadFile) -> Upload:
    limit = request.app.state.settings.max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{upload.filename}: larger than {limit // (1024 * 1024)} MB; send at most 2 minutes of audio")
    if not data:
        raise InputError(f"{upload.filename}: the file is empty")
    return Upload(upload.filename or "upload", data)


def _check_readable(uploads: list[Upload]) -> None:
    """Refuse unreadable files now, with the file named, rather than in the worker."""
    from voice_avatar.audio import load_audio

    for upload in uploads:
        load_audio(upload.data, name=upload.filename)
