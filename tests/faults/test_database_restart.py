"""PostgreSQL stops and starts again under a running API process.

The API runs in-process on this test's own PostgreSQL cluster (initdb + pg_ctl on a free port,
never the machine's shared server), which is stopped with `pg_ctl -m fast` (every connection in
the API's pool is cut) and started again.
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from voice_avatar.accounts import create_user
from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings
from voice_avatar.store import open_store, sessions_for

from .conftest import PostgresServer, speech_files


def test_requests_during_a_database_restart_get_a_clean_503_and_the_same_process_serves_after(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """What the user sees while the database restarts, with the API process never restarted.

    Down: every request that needs the database (listing avatars, speaking, uploading samples)
    answers at once with 503 and the JSON body `{"error": {"code": "database_unavailable", ...}}`
    plus `Retry-After`, never a 500 or a traceback; /readyz says 503 naming the database; /healthz
    stays 200. Back: the very same process answers 200 with the same data (its pool reconnects).
    """
    settings = Settings(home=tmp_path / "home", database_url=postgres_server.url, require_consent=False)
    with sessions_for(settings).begin() as session:
        user, key = create_user(session, "Sam", "free", plans=settings.tiers)
    auth = {"Authorization": f"Bearer {key}"}
    store = open_store(settings, user.id)
    avatar = store.create("Kept", engine="local")
    avatar.status, avatar.stage = "ready", "done"  # not pending: no enrollment job may change it meanwhile
    store.save(avatar)
    sample = speech_files("2609", 1)[0]

    with TestClient(create_app(settings)) as client:
        before = client.get("/v1/avatars", headers=auth)
        assert before.status_code == 200 and [a["id"] for a in before.json()["avatars"]] == [avatar.id]

        postgres_server.stop()
        requests = {
            "list avatars": lambda: client.get("/v1/avatars", headers=auth),
            "speak": lambda: client.post(f"/v1/avatars/{avatar.id}/speech", json={"text": "Hi."}, headers=auth),
            "upload samples": lambda: client.post(
                "/v1/avatars",
                data={"name": "During"},
                files=[("samples", (sample.name, sample.read_bytes(), "audio/flac"))],
                headers=auth,
            ),
        }
        for what, request in requests.items():
            started = time.monotonic()
            response = request()
            assert time.monotonic() - started < 15, f"{what} hung while the database was down"
            assert response.status_code == 503, (what, response.status_code, response.text)
            assert response.headers["content-type"] == "application/json"
            error = response.json()["error"]
            assert error["code"] == "database_unavailable", (what, error)
            assert "Traceback" not in response.text and "psycopg" not in response.text
            assert int(response.headers["retry-after"]) > 0
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")
        assert client.get("/healthz").status_code == 200

        postgres_server.start()
        after = client.get("/v1/avatars", headers=auth)
        assert after.status_code == 200, after.text
        assert after.json() == before.json()
        assert client.get("/readyz").status_code == 200
        names = [a["name"] for a in after.json()["avatars"]]
        assert "During" not in names  # nothing half-made from the refused upload


def test_a_restart_between_requests_costs_at_most_one_clean_503(tmp_path: Path, postgres_server: PostgresServer) -> None:
    """The pool keeps no pre-ping (a round trip per request): after a restart nobody saw, the first
    request on a dead connection may answer 503 database_unavailable; SQLAlchemy then drops the
    whole pool, and the next request is served."""
    settings = Settings(home=tmp_path / "home", database_url=postgres_server.url, require_consent=False)
    with sessions_for(settings).begin() as session:
        _, key = create_user(session, "Ida", "free", plans=settings.tiers)
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        for _ in range(3):  # several pooled connections
            assert client.get("/v1/avatars", headers=auth).status_code == 200
        postgres_server.stop()
        postgres_server.start()
        first = client.get("/v1/avatars", headers=auth)
        assert first.status_code in (200, 503), first.text
        if first.status_code == 503:
            assert first.json()["error"]["code"] == "database_unavailable"
        assert [client.get("/v1/avatars", headers=auth).status_code for _ in range(3)] == [200, 200, 200]
