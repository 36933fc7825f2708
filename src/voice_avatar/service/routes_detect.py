"""Was this audio made here? `POST /v1/detect` reads the watermark every generated audio carries.

Any user may ask about any file. The avatar is named only when it is one of the caller's own,
so a file cannot be used to learn which avatars other users have.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from voice_avatar import watermark
from voice_avatar.audio import load_audio
from voice_avatar.db import User
from voice_avatar.errors import InputError
from voice_avatar.service.auth import current_user
from voice_avatar.store import open_store

router = APIRouter(prefix="/v1")


@router.post("/detect")
async def detect_watermark(request: Request, file: UploadFile = File(...), user: User = Depends(current_user)) -> dict:
    """{watermarked, confidence, score, service, avatar_id (the caller's avatar, when the mark names one)}."""
    limit = request.app.state.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{file.filename}: larger than {limit // (1024 * 1024)} MB")
    avatar_ids = [r.id for r in open_store(request.app.state.settings, user.id).list()]
    return await run_in_threadpool(_detect, data, file.filename or "upload", avatar_ids)


def _detect(data: bytes, name: str, avatar_ids: list[str]) -> dict:
    found = watermark.detect(load_audio(data, name=name), avatar_ids=avatar_ids)
    body: dict[str, object] = {
        "watermarked": found.found,
        "confidence": round(found.confidence, 6),
        "score": found.score,
        "service": found.service,
        "avatar_id": found.avatar_id,
    }
    if found.payload is not None and found.payload.avatar_tag:
        body["avatar_tag"] = f"{found.payload.avatar_tag:06x}"  # the first 6 hex digits of the avatar's id
    if found.found:
        body["speed"] = found.speed
    return body
