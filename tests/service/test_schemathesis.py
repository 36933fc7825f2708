"""Schemathesis over the service's own OpenAPI schema, in process (ASGI), with a valid admin key.

Every operation gets a bounded number of generated requests, schema-valid and schema-invalid
(schemathesis' positive and negative modes). The check is `not_a_server_error`: no request may
get a 5xx. Before the run one user is stored with an avatar, usage and a blob; afterwards that
user, their avatars, usage and blobs must be exactly as they were (generated requests may add
rows of their own: users made by the admin route, consent phrases asked for, keys the caller
issues itself; the keys it already had must not change).

The stored avatar is `failed`, not `ready`: the speech operations then run their validation and
text preparation but never pay for a synthesis. `avatar_id` in the speech and read paths is pinned
to it, so those requests reach the route's own code instead of stopping at "no such avatar".
"""

from __future__ import annotations

import hashlib
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from sqlalchemy import MetaData, select

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from voice_avatar.accounts import create_user  # noqa: E402
from voice_avatar.billing.ledger import record_usage  # noqa: E402
from voice_avatar.db import ApiKey, User  # noqa: E402
from voice_avatar.service.app import create_app  # noqa: E402
from voice_avatar.settings import Settings  # noqa: E402
from voice_avatar.store import open_store, sessions_for  # noqa: E402

#: Per operation and mode; VOICE_AVATAR_FUZZ_EXAMPLES raises it for a longer hunt, and
#: VOICE_AVATAR_FUZZ_RANDOM=1 draws new examples each run (by default the run is repeatable).
_PER_MODE = int(os.environ.get("VOICE_AVATAR_FUZZ_EXAMPLES", "100"))
EXAMPLES = {GenerationMode.POSITIVE: _PER_MODE, GenerationMode.NEGATIVE: _PER_MODE}
_DERANDOMIZE = os.environ.get("VOICE_AVATAR_FUZZ_RANDOM") != "1"
#: Reports walk every day asked for; fewer examples there keep the run short.
SLOW = {"GET /v1/reports/history": 10}


def _snapshot(settings: Settings, owner_id: str, avatar_id: str, key_ids: list[str]) -> dict:
    engine = sessions_for(settings).kw["bind"]
    meta = MetaData()
    meta.reflect(bind=engine)
    tables = meta.tables
    mine = {
        "avatars": tables["avatars"].select(),  # all of them: no generated request may make or change one
        "usage_events": tables["usage_events"].select(),
        "quota_counters": tables["quota_counters"].select(),
        "users": tables["users"].select().where(tables["users"].c.id == owner_id),
        # The caller may issue itself new keys (POST /v1/keys); the keys it had must stay as they were.
        "api_keys": tables["api_keys"].select().where(tables["api_keys"].c.id.in_(key_ids)),
        "provider_voices": tables["provider_voices"].select(),
        "experiment_outcomes": tables["experiment_outcomes"].select(),
    }
    with engine.connect() as connection:
        rows = {name: sorted(repr(tuple(r)) for r in connection.execute(query)) for name, query in mine.items()}
    blobs = settings.home / "blobs"
    files = {
        str(p.relative_to(blobs)): hashlib.sha256(p.read_bytes()).hexdigest() for p in blobs.rglob("*") if p.is_file()
    }
    assert any(avatar_id in name for name in files)
    return {"rows": rows, "blobs": files}


def _store_world(settings: Settings) -> tuple[str, dict[str, str], str]:
    sessions = sessions_for(settings)
    with sessions.begin() as session:
        owner, key = create_user(session, "owner", "premium", True, plans=settings.tiers)
        owner_id = owner.id
    store = open_store(settings, owner_id)
    record = store.create("Keepsake Reader", engine="local")
    record.samples = [store.put_blob(record, "samples/sample-1.flac", b"fLaC stored sample bytes")]
    record.status, record.stage, record.progress, record.error = "failed", "done", 1.0, "kept for the fuzz test"
    store.save(record)
    with sessions.begin() as session:
        user = session.get(User, owner_id)
        record_usage(
            session,
            user=user,
            engine="local",
            characters=42,
            cache_hit=False,
            latency_ms=120,
            avatar_id=record.id,
            rates={"local": Decimal("0.0002")},
            route_reason="stored before the fuzz",
        )
    return owner_id, {"Authorization": f"Bearer {key}"}, record.id


def test_no_generated_request_gets_a_5xx_and_stored_data_survives(tmp_path: Path) -> None:
    settings_ = Settings(
        home=tmp_path / "home", require_consent=False, pregenerate_phrases=[], max_upload_bytes=1 << 20
    )
    owner_id, auth, avatar_id = _store_world(settings_)
    with sessions_for(settings_)() as session:
        key_ids = list(session.scalars(select(ApiKey.id).where(ApiKey.user_id == owner_id)))
    before = _snapshot(settings_, owner_id, avatar_id, key_ids)
    app = create_app(settings_)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    operations, requests, failures = 0, 0, []
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        pinned = (
            {"avatar_id": avatar_id}
            if operation.method.upper() != "DELETE" and "{avatar_id}" in operation.path
            else None
        )
        for mode, examples in EXAMPLES.items():
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=pinned)
            budget = SLOW.get(f"{operation.method.upper()} {operation.path}", examples)

            @settings(
                max_examples=budget,
                deadline=None,
                database=None,
                derandomize=_DERANDOMIZE,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case) -> None:
                nonlocal requests
                response = case.call(headers=auth)
                requests += 1
                if response.status_code >= 500:
                    failures.append(
                        (
                            case.operation.label,
                            mode.value,  # noqa: B023 (run() is called at once, in this iteration)
                            response.status_code,
                            response.text[:300],
                            case.as_curl_command(headers=auth),
                        )
                    )
                    return
                case.validate_response(response, checks=[not_a_server_error])

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    elapsed = time.monotonic() - started
    print(f"\nschemathesis: {operations} operations, {requests} requests, {len(failures)} 5xx, {elapsed:.1f} s")
    for failure in failures:
        print("  5xx:", *failure)
    assert operations >= 15  # every route in the schema was reached
    assert not failures, failures[:5]
    after = _snapshot(settings_, owner_id, avatar_id, key_ids)
    for table, rows in before["rows"].items():
        assert after["rows"][table] == rows, f"table {table} changed"
    assert after == before
