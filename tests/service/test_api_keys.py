"""API keys over HTTP and the CLI: list your own, issue one (shown once), revoke one (it stops working)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from voice_avatar.accounts import create_user
from voice_avatar.cli import main
from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings, get_settings
from voice_avatar.store import sessions_for


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    settings = Settings(home=tmp_path / "home", require_consent=False, pregenerate_phrases=[])
    with TestClient(create_app(settings)) as client:
        yield client, settings


def new_user(settings: Settings, name: str) -> tuple[str, dict[str, str]]:
    with sessions_for(settings).begin() as session:
        user, key = create_user(session, name, "free", plans=settings.tiers)
        return user.id, {"Authorization": f"Bearer {key}"}


def test_rotate_a_key_issue_a_new_one_then_revoke_the_old(service) -> None:
    client, settings = service
    _, old = new_user(settings, "ann")
    listed = client.get("/v1/keys", headers=old).json()["keys"]
    assert len(listed) == 1 and listed[0]["revoked"] is False
    assert old["Authorization"].removeprefix("Bearer ").startswith(listed[0]["prefix"])
    assert set(listed[0]) == {"id", "prefix", "created_at", "revoked", "revoked_at"}  # never the key or its hash
    issued = client.post("/v1/keys", headers=old)
    assert issued.status_code == 201
    new = {"Authorization": f"Bearer {issued.json()['api_key']}"}
    assert issued.json()["api_key"].startswith(issued.json()["prefix"])
    assert client.get("/v1/keys", headers=new).status_code == 200
    revoked = client.delete(f"/v1/keys/{listed[0]['id']}", headers=new)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True and revoked.json()["revoked_at"]
    assert client.get("/v1/keys", headers=old).status_code == 401  # at once
    keys = client.get("/v1/keys", headers=new).json()["keys"]
    assert [k["revoked"] for k in keys] == [True, False]
    assert "api_key" not in json.dumps(keys)
    again = client.delete(f"/v1/keys/{listed[0]['id']}", headers=new)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]


def test_another_users_key_is_not_found_and_stays_valid(service) -> None:
    client, settings = service
    _, ann = new_user(settings, "ann")
    _, bob = new_user(settings, "bob")
    bobs_key = client.get("/v1/keys", headers=bob).json()["keys"][0]["id"]
    client.post("/v1/keys", headers=ann)  # so that ann could revoke one of hers
    refused = client.delete(f"/v1/keys/{bobs_key}", headers=ann)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert "GET /v1/keys" in refused.json()["error"]["message"]
    assert client.get("/v1/keys", headers=bob).status_code == 200
    assert client.delete("/v1/keys/no-such-key", headers=ann).status_code == 404


def test_the_last_active_key_cannot_be_revoked_over_the_api(service) -> None:
    client, settings = service
    _, ann = new_user(settings, "ann")
    only = client.get("/v1/keys", headers=ann).json()["keys"][0]["id"]
    refused = client.delete(f"/v1/keys/{only}", headers=ann)
    assert refused.status_code == 409 and "last active API key" in refused.json()["error"]["message"]
    assert client.get("/v1/keys", headers=ann).status_code == 200


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VOICE_AVATAR_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def test_cli_keys_create_list_revoke(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "create", "--name", "Ann", "--json"]) == 0
    user = json.loads(capsys.readouterr().out)
    assert main(["keys", "create", user["user_id"], "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["user_id"] == user["user_id"] and made["api_key"].startswith("va_")
    assert main(["keys", "list", user["user_id"], "--json"]) == 0
    keys = json.loads(capsys.readouterr().out)
    assert [k["revoked_at"] for k in keys] == [None, None] and made["key_id"] in {k["id"] for k in keys}
    assert main(["keys", "revoke", made["key_id"]]) == 0
    assert f"key {made['key_id']} revoked" in capsys.readouterr().out
    assert main(["keys", "revoke", made["key_id"]]) == 0
    assert "already revoked" in capsys.readouterr().out
    assert main(["keys", "list", user["user_id"]]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and sum(line.endswith("\tactive") for line in lines) == 1
    with sessions_for(get_settings())() as session:
        from voice_avatar.accounts import authenticate

        assert authenticate(session, made["api_key"]) is None
        assert authenticate(session, user["api_key"]) is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "create", "nosuchuser"], "no user with id 'nosuchuser'"),
        (["keys", "list", "nosuchuser"], "no user with id 'nosuchuser'"),
        (["keys", "revoke", "nosuchkey"], "no API key with id 'nosuchkey'"),
    ],
)
def test_cli_keys_bad_input_exits_2_with_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
