"""Deleting an avatar or a user leaves nothing of the voice behind: not on disk, not in the database,
not in the audio cache, not at the providers, and says what it removed.

Each service test runs twice: SQLite with the disk cache, and PostgreSQL with the Redis cache.
Both users own a ready avatar (real speech samples, a fitted profile, a consent recording), have
spoken through ElevenLabs (stand-in) and the local engine, and have a Fish Audio clone; only one
is deleted, and the other must be exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import redis
from conftest import REDIS_URL
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select
from standins.elevenlabs import StandinControl, make_elevenlabs_standin
from standins.fishaudio import make_fishaudio_standin
from standins.server import running_server

from voice_avatar import accounts, audit, deletion
from voice_avatar.accounts import create_user
from voice_avatar.audio import load_audio
from voice_avatar.cache import DiskAudioCache, RedisAudioCache, avatar_cache_key, avatar_of, cache_key
from voice_avatar.db import ApiKey, ProviderVoice, UsageEvent, User, create_engine_for
from voice_avatar.enrollment import PROFILE_FILE, Upload, add_inputs
from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings, get_settings
from voice_avatar.speaking import prepare
from voice_avatar.store import DiskBlobStore, open_store, sessions_for

VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"
#: Tables whose rows may name a deleted id on purpose: the schema version only. (The audit trail
#: keeps a deleted avatar's opaque id, checked apart in `_audit_rows_of`, and never a user's.)
KEPT_ON_PURPOSE = {"alembic_version"}
AUDIT_TARGET = frozenset({("audit_events", "target_id")})
SPOKEN = ["Your flight leaves at 6:45 AM.", "A second message."]


@cache
def _profile_bytes() -> bytes:
    from voice_avatar.engines.local import fit_profile

    clips = [load_audio(p) for p in sorted((VOICES / "3331").glob("*.flac"))[:3]]
    return fit_profile(clips).to_bytes()


def _make_avatar(settings: Settings, user_id: str, name: str, clip: Path, consent_clip: Path) -> tuple[str, bytes]:
    """A ready avatar with a sample, a consent recording and a fitted profile (no enrollment job)."""
    store = open_store(settings, user_id)
    record = store.create(name, engine="local")
    consent = Upload(consent_clip.name, consent_clip.read_bytes())
    add_inputs(store, record, [Upload(clip.name, clip.read_bytes())], consent, "I agree", "code-1")
    store.put_blob(record, PROFILE_FILE, _profile_bytes())
    record = store.get(record.id)
    record.status, record.stage, record.progress = "ready", "done", 1.0
    store.save(record)
    return record.id, clip.read_bytes()


class World:
    """The service, its stand-ins and two users each with one avatar used every way there is."""

    def __init__(self, client: TestClient, settings: Settings, eleven: StandinControl, fish) -> None:
        self.client, self.settings, self.eleven, self.fish = client, settings, eleven, fish
        self.state = client.app.state
        self.users: dict[str, dict] = {}
        with sessions_for(settings).begin() as session:
            _, key = create_user(session, "Admin", "free", True, plans=settings.tiers)
        self.admin = {"Authorization": f"Bearer {key}"}

    def add_user(self, name: str, clips: list[Path]) -> dict:
        with sessions_for(self.settings).begin() as session:
            user, key = create_user(session, name, "premium", plans=self.settings.tiers)
            user_id = user.id
        avatar_id, sample = _make_avatar(self.settings, user_id, name, clips[0], clips[1])
        with sessions_for(self.settings).begin() as session:
            audit.record(session, user_id, "avatar.enroll", "avatar", avatar_id, name=name)
        auth = {"Authorization": f"Bearer {key}"}
        for text in SPOKEN:  # through ElevenLabs (premium), which clones the voice on first use
            response = self.client.post(
                f"/v1/avatars/{avatar_id}/speech", json={"text": text, "format": "mp3"}, headers=auth
            )
            assert response.status_code == 200 and response.headers["x-engine"] == "elevenlabs", response.text
        store = open_store(self.settings, user_id)
        record = store.get(avatar_id)
        self.state.voices.whole(store, record, prepare("Said by the local engine.", "wav"))
        self.state.router.provider_voice(store, record, self.state.router.cloud["fishaudio"])
        assert self.client.get("/v1/consent/phrase", headers=auth).status_code == 200
        self.users[name] = entry = {
            "id": user_id,
            "auth": auth,
            "avatar": avatar_id,
            "sample": sample,
            "consent": clips[1].read_bytes(),
            "cache_keys": [
                self.state.voices.key(record, prepare(text, "mp3"), "elevenlabs") for text in SPOKEN
            ] + [self.state.voices.key(record, prepare("Said by the local engine.", "wav"))],
        }
        assert all(self.state.voices.cache.get(k) is not None for k in entry["cache_keys"])
        return entry

    # -- what is left ----------------------------------------------------------------------------

    def blob_files(self) -> list[Path]:
        root = self.settings.home / "blobs"
        return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []

    def assert_no_blobs_of(self, who: dict) -> None:
        needles = [who["sample"][len(who["sample"]) // 2 :][:4096], who["consent"][len(who["consent"]) // 2 :][:4096]]
        for path in self.settings.home.rglob("*"):
            assert who["avatar"] not in str(path.relative_to(self.settings.home)), path
        for path in self.blob_files():
            data = path.read_bytes()
            assert not any(needle in data for needle in needles), f"{path} holds the deleted sample"

    def assert_blobs_intact(self, who: dict) -> None:
        folder = self.settings.home / "blobs" / who["avatar"]
        assert (folder / PROFILE_FILE).read_bytes() == _profile_bytes()
        assert any(p.read_bytes() == who["sample"] for p in (folder / "samples").iterdir())

    def rows_mentioning(self, needle: str, *, allowed: frozenset = frozenset()) -> list[tuple[str, str, str]]:
        """Every (table, column, value) in the database whose value mentions `needle`, any column type,
        except in the (table, column) pairs `allowed`."""
        engine = create_engine_for(self.settings.effective_database_url)
        try:
            metadata = MetaData()
            metadata.reflect(engine)
            hits = []
            with engine.connect() as connection:
                for table in metadata.sorted_tables:
                    if table.name in KEPT_ON_PURPOSE:
                        continue
                    for row in connection.execute(select(table)).mappings():
                        hits += [
                            (table.name, column, str(value)[:80])
                            for column, value in row.items()
                            if value is not None and needle in str(value) and (table.name, column) not in allowed
                        ]
            return hits
        finally:
            engine.dispose()

    def cached_keys_of(self, avatar_id: str) -> list[str]:
        cache = self.state.voices.cache
        if isinstance(cache, RedisAudioCache):
            client = redis.Redis.from_url(REDIS_URL)
            try:
                return [k.decode() for k in client.scan_iter(match=f"*{avatar_id}*", count=1000)]
            finally:
                client.close()
        return [k for k in cache._cache.iterkeys() if avatar_id in str(k)]

    def provider_voices_of(self, avatar_id: str) -> list[str]:
        return [n for n in self.eleven.voices.values() if avatar_id in n] + [
            m["title"] for m in self.fish.models.values() if avatar_id in str(m.get("title"))
        ]

    def assert_audit_keeps_no_names(self, who: dict) -> None:
        """The trail still says the avatar was enrolled and deleted, by its opaque id, but not its name."""
        with sessions_for(self.settings)() as session:
            events = audit.recent(session, target_id=who["avatar"])
        assert {e.action for e in events} == {"avatar.enroll", "avatar.delete"}
        assert all(e.detail == {} for e in events)

    def assert_present(self, who: dict) -> None:
        """The checks of `assert_gone` do find the avatar while it exists (they are not vacuous)."""
        assert {t for t, _, _ in self.rows_mentioning(who["avatar"])} >= {"avatars", "provider_voices", "usage_events"}
        assert self.rows_mentioning(who["id"])
        assert len(self.cached_keys_of(who["avatar"])) == len(who["cache_keys"])
        assert len(self.provider_voices_of(who["avatar"])) == 2
        with pytest.raises(AssertionError):
            self.assert_no_blobs_of(who)

    def assert_gone(self, who: dict) -> None:
        self.assert_no_blobs_of(who)
        assert self.rows_mentioning(who["avatar"], allowed=AUDIT_TARGET) == []
        self.assert_audit_keeps_no_names(who)
        assert self.cached_keys_of(who["avatar"]) == []
        assert all(self.state.voices.cache.get(k) is None for k in who["cache_keys"])
        assert self.provider_voices_of(who["avatar"]) == []

    def assert_untouched(self, who: dict) -> None:
        listed = self.client.get("/v1/avatars", headers=who["auth"]).json()["avatars"]
        assert [(a["id"], a["status"]) for a in listed] == [(who["avatar"], "ready")]
        self.assert_blobs_intact(who)
        assert all(self.state.voices.cache.get(k) is not None for k in who["cache_keys"])
        assert len(self.provider_voices_of(who["avatar"])) == 2  # its ElevenLabs and Fish Audio clones
        with sessions_for(self.settings)() as session:
            voices = session.scalars(select(ProviderVoice).where(ProviderVoice.avatar_id == who["avatar"])).all()
            assert len(voices) == 2
            usage = session.scalars(select(UsageEvent).where(UsageEvent.user_id == who["id"])).all()
            assert [u.avatar_id for u in usage] == [who["avatar"]] * len(SPOKEN)
        again = self.client.post(
            f"/v1/avatars/{who['avatar']}/speech", json={"text": SPOKEN[0], "format": "mp3"}, headers=who["auth"]
        )
        assert again.status_code == 200 and again.headers["x-cache"] == "hit"


@pytest.fixture
def world(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    """SQLite + disk cache, or PostgreSQL + Redis cache, with both providers' stand-ins."""
    on_postgres = not database_url.startswith("sqlite")
    if on_postgres:
        request.getfixturevalue("redis_client")  # fails clearly when Redis is down
    eleven = StandinControl(api_key="el-key")
    fish = make_fishaudio_standin(api_key="fish-key")
    with running_server(make_elevenlabs_standin(eleven)) as el_url, running_server(fish) as fish_url:
        settings = Settings(
            home=tmp_path / "home",
            database_url=database_url,
            redis_url=REDIS_URL if on_postgres else None,
            require_consent=False,
            pregenerate_phrases=[],
            elevenlabs_api_key="el-key",
            elevenlabs_base_url=el_url,
            elevenlabs_timeout_seconds=5,
            fishaudio_api_key="fish-key",
            fishaudio_base_url=fish_url,
            fishaudio_timeout_seconds=5,
        )
        with TestClient(create_app(settings)) as client:
            world = World(client, settings, eleven, fish)
            assert isinstance(world.state.voices.cache, RedisAudioCache if on_postgres else DiskAudioCache)
            world.add_user("Pat", sorted((VOICES / "3331").glob("*.flac"))[:2])
            world.add_user("Kim", sorted((VOICES / "2609").glob("*.flac"))[:2])
            try:
                yield world
            finally:
                for who in world.users.values():  # Redis is shared: leave no entries behind
                    world.state.voices.cache.forget_voice(who["avatar"])


def test_deleting_an_avatar_removes_everything_made_from_the_voice(world: World) -> None:
    pat, kim = world.users["Pat"], world.users["Kim"]
    world.assert_present(pat)
    response = world.client.delete(f"/v1/avatars/{pat['avatar']}", headers=pat["auth"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == pat["avatar"] and body["deleted"] is True and body["complete"] is True
    removed = body["removed"]
    assert (removed["samples"], removed["consent_recording"], removed["profile"]) == (1, True, True)
    assert removed["blob_files"] == 3
    assert removed["cached_audio"] == 3  # two ElevenLabs messages, one local
    assert sorted((v["engine"], v["deleted"]) for v in removed["provider_voices"]) == [
        ("elevenlabs", True),
        ("fishaudio", True),
    ]
    assert removed["usage_events_unlinked"] == len(SPOKEN)
    world.assert_gone(pat)
    with sessions_for(world.settings)() as session:  # the money records stay, pointing at no voice
        usage = session.scalars(select(UsageEvent).where(UsageEvent.user_id == pat["id"])).all()
        assert len(usage) == len(SPOKEN) and all(u.avatar_id is None and u.cost_usd > 0 for u in usage)
    assert world.client.get(f"/v1/avatars/{pat['avatar']}", headers=pat["auth"]).status_code == 404
    assert world.client.delete(f"/v1/avatars/{pat['avatar']}", headers=pat["auth"]).status_code == 404
    world.assert_untouched(kim)


def test_one_user_cannot_delete_anothers_avatar(world: World) -> None:
    pat, kim = world.users["Pat"], world.users["Kim"]
    assert world.client.delete(f"/v1/avatars/{kim['avatar']}", headers=pat["auth"]).status_code == 404
    world.assert_untouched(kim)


def test_deleting_a_user_removes_their_avatars_keys_and_data_and_anonymises_the_ledger(world: World) -> None:
    pat, kim = world.users["Pat"], world.users["Kim"]
    with sessions_for(world.settings)() as session:
        billed = [(u.engine, u.characters, u.cost_usd) for u in session.scalars(
            select(UsageEvent).where(UsageEvent.user_id == pat["id"]).order_by(UsageEvent.id)
        )]
    assert len(billed) == len(SPOKEN)
    world.assert_present(pat)
    assert world.client.delete(f"/v1/admin/users/{pat['id']}", headers=kim["auth"]).status_code == 403
    assert world.client.delete("/v1/admin/users/nobody", headers=world.admin).status_code == 404
    response = world.client.delete(f"/v1/admin/users/{pat['id']}", headers=world.admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == pat["id"] and body["deleted"] is True and body["complete"] is True
    removed = body["removed"]
    assert [a["id"] for a in removed["avatars"]] == [pat["avatar"]]
    assert removed["avatars"][0]["removed"]["cached_audio"] == 3
    assert (removed["api_keys"], removed["consent_challenges"]) == (1, 1)
    assert removed["quota_counters"] >= 1
    assert body["kept_anonymised"] == {"usage_events": len(SPOKEN), "experiment_outcomes": 0}

    world.assert_gone(pat)
    assert world.rows_mentioning(pat["id"]) == []  # not even the ledger or the audit trail names the old user id
    assert world.client.get("/v1/avatars", headers=pat["auth"]).status_code == 401
    with sessions_for(world.settings)() as session:
        stand_ins = session.scalars(select(User).where(User.name == accounts.DELETED_USER_NAME)).all()
        assert len(stand_ins) == 1
        stand_in = stand_ins[0]
        assert (stand_in.tier, stand_in.is_admin) == (accounts.DELETED_TIER, False)
        assert session.scalars(select(ApiKey).where(ApiKey.user_id == stand_in.id)).all() == []
        kept = session.scalars(
            select(UsageEvent).where(UsageEvent.user_id == stand_in.id).order_by(UsageEvent.id)
        ).all()
        assert [(u.engine, u.characters, u.cost_usd) for u in kept] == billed  # the money is all there
        assert all(u.avatar_id is None for u in kept)
        assert session.get(User, pat["id"]) is None
        deletion_event = audit.recent(session, action="user.delete")[0]
        assert deletion_event.target_id == stand_in.id and deletion_event.detail == {"avatars": 1, "revoked_credentials": 1}
    assert world.client.delete(f"/v1/admin/users/{pat['id']}", headers=world.admin).status_code == 404
    world.assert_untouched(kim)


def test_a_provider_that_cannot_delete_is_reported_and_the_rest_still_goes(world: World) -> None:
    pat, kim = world.users["Pat"], world.users["Kim"]
    world.eleven.fail_next("server_error", times=5)
    response = world.client.delete(f"/v1/avatars/{pat['avatar']}", headers=pat["auth"])
    while world.eleven.take_failure() is not None:  # drop what the client's retries left unused
        pass
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deleted"] is True and body["complete"] is False
    voices = {v["engine"]: v for v in body["removed"]["provider_voices"]}
    assert voices["fishaudio"]["deleted"] is True
    assert voices["elevenlabs"]["deleted"] is False and voices["elevenlabs"]["error"]
    assert voices["elevenlabs"]["voice_id"] in world.eleven.voices  # still there, named for the operator
    world.assert_no_blobs_of(pat)
    assert world.rows_mentioning(pat["avatar"], allowed=AUDIT_TARGET) == []
    assert world.cached_keys_of(pat["avatar"]) == []
    world.assert_untouched(kim)


# -- the pieces on their own ---------------------------------------------------------------------


def test_forget_voice_removes_one_avatars_entries_only(make_audio_cache) -> None:
    cache = make_audio_cache()
    ann = [avatar_cache_key("ann0000000a1", cache_key("local", "ann0000000a1", t, "wav", {})) for t in "abc"]
    bob = avatar_cache_key("bob0000000b2", cache_key("local", "bob0000000b2", "a", "wav", {}))
    legacy = cache_key("local", "ann0000000a1", "old", "wav", {})  # written before keys named the avatar
    for key in [*ann, bob, legacy]:
        cache.set(key, b"audio " + key.encode())
    assert avatar_of(ann[0]) == "ann0000000a1" and avatar_of(legacy) is None
    assert cache.forget_voice("ann0000000a1") == 3
    assert [cache.get(k) for k in ann] == [None, None, None]
    assert cache.get(bob) == b"audio " + bob.encode() and cache.get(legacy) is not None
    assert cache.forget_voice("ann0000000a1") == 0
    assert cache.forget_voice("bob") == 0  # a prefix of another id matches nothing


def test_redis_keys_name_the_avatar(redis_client: redis.Redis, redis_prefix: str) -> None:
    cache = RedisAudioCache(redis_client, 60, prefix=redis_prefix)
    key = avatar_cache_key("a1b2c3d4e5f6", "0" * 64)
    cache.set(key, b"x")
    assert redis_client.get(f"{redis_prefix}a1b2c3d4e5f6:{'0' * 64}") == b"x"
    assert cache.forget_voice("a1b2c3d4e5f*") == 0  # glob characters in an id are literal
    assert cache.forget_voice("a1b2c3d4e5f6") == 1


def test_blob_prefix_deletion_counts_files_and_finishes_an_interrupted_one(tmp_path: Path) -> None:
    blobs = DiskBlobStore(tmp_path / "blobs")
    blobs.put("abc/samples/one.wav", b"1")
    blobs.put("abc/profile.npz", b"2")
    blobs.put("other/profile.npz", b"3")
    (tmp_path / "blobs" / ".deleting-abc").mkdir()
    (tmp_path / "blobs" / ".deleting-abc" / "left.wav").write_bytes(b"4")  # a deletion that was cut short
    assert blobs.delete_prefix("abc") == 2
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == ["other"]
    assert blobs.delete_prefix("abc") == 0


def test_the_profile_file_name_matches_enrollment() -> None:
    assert deletion.PROFILE_FILE == PROFILE_FILE


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("VOICE_AVATAR_HOME", str(tmp_path / "home"))
    for name in ("VOICE_AVATAR_REDIS_URL", "VOICE_AVATAR_DATABASE_URL", "VOICE_AVATAR_ELEVENLABS_API_KEY",
                 "VOICE_AVATAR_FISHAUDIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _cache_an_entry(settings: Settings, avatar_id: str) -> None:
    cache = DiskAudioCache(settings.cache_dir, 60)
    cache.set(avatar_cache_key(avatar_id, "f" * 64), b"audio")
    cache.close()


def test_cli_avatar_delete_says_what_it_removed(cli_home: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from voice_avatar.cli import main

    clips = sorted((VOICES / "3331").glob("*.flac"))
    avatar_id, _ = _make_avatar(cli_home, None, "Ann", clips[0], clips[1])
    _cache_an_entry(cli_home, avatar_id)
    assert main(["avatars", "delete", "ann", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["id"] == avatar_id and body["complete"] is True
    assert (body["removed"]["samples"], body["removed"]["profile"], body["removed"]["cached_audio"]) == (1, True, 1)
    assert not (cli_home.home / "blobs" / avatar_id).exists()


def test_cli_user_delete(cli_home: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from voice_avatar.cli import main

    with sessions_for(cli_home).begin() as session:
        user, _ = create_user(session, "Lee", "free", plans=cli_home.tiers)
        user_id = user.id
    clips = sorted((VOICES / "2609").glob("*.flac"))
    avatar_id, _ = _make_avatar(cli_home, user_id, "Lee", clips[0], clips[1])
    _cache_an_entry(cli_home, avatar_id)
    assert main(["users", "delete", user_id]) == 0
    out = capsys.readouterr().out
    assert f"deleted user {user_id}: 1 avatar(s), 1 API key(s)" in out
    assert f"deleted avatar 'Lee' ({avatar_id}): 1 sample(s)" in out and "1 cached audio file(s)" in out
    assert not (cli_home.home / "blobs" / avatar_id).exists()
    with sessions_for(cli_home)() as session:
        assert session.get(User, user_id) is None
    assert main(["users", "delete", user_id]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"no user with id {user_id!r}" in err
