"""A/B experiments over HTTP: users rate the messages they heard; admins read the experiments' reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import exists, select

from voice_avatar import experiments
from voice_avatar.db import ExperimentOutcome, User
from voice_avatar.errors import NotFoundError
from voice_avatar.service.auth import admin_user, current_user

router = APIRouter(prefix="/v1")
CurrentUser = Annotated[User, Depends(current_user)]
Admin = Annotated[User, Depends(admin_user)]

_MAX_ID = 2**63 - 1  # a BIGINT: larger ids cannot exist, and PostgreSQL would refuse to compare them


class Rating(BaseModel):
    """`message_id` is the `X-Message-Id` header the speech routes return."""

    message_id: int = Field(ge=1, le=_MAX_ID)
    rating: int = Field(ge=1, le=5)


@router.post("/ratings")
def rate(body: Rating, request: Request, user: CurrentUser) -> dict:
    with request.app.state.sessions.begin() as session:
        outcome = experiments.rate_message(session, user, body.message_id, body.rating)
        return {"message_id": outcome.usage_event_id, "rating": outcome.rating}


@router.get("/experiments")
def list_experiments(request: Request, _: Admin) -> dict:
    configured = request.app.state.settings.experiments
    return {"experiments": [{"name": name, **spec.model_dump(mode="json")} for name, spec in configured.items()]}


@router.get("/experiments/{name}/report")
def experiment_report(name: str, request: Request, _: Admin) -> dict:
    """Also answers for an experiment since removed from the settings, as long as it has outcomes."""
    spec = request.app.state.settings.experiments.get(name)
    with request.app.state.sessions() as session:
        if spec is None and not session.scalar(select(exists().where(ExperimentOutcome.experiment == name))):
            raise NotFoundError(f"no experiment named {name!r}")
        result = experiments.report(session, name, arms=spec.arms if spec else ())
    return {**result, "spec": spec.model_dump(mode="json") if spec else None}
