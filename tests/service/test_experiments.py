"""A/B experiments: settings, stable assignment, outcomes and ratings, the report's statistics, the routes.

The data-layer and route tests run on SQLite and PostgreSQL (the `session_factory` fixture).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from scipy import stats
from sqlalchemy.orm import Session

from voice_avatar import accounts
from voice_avatar.billing import record_usage
from voice_avatar.db import ExperimentOutcome, SessionFactory, User
from voice_avatar.errors import InputError, NotFoundError
from voice_avatar.experiments import assign, experiment_for, rate_message, record_outcome, report
from voice_avatar.service.errors import install_error_handlers
from voice_avatar.service.routes_experiments import router
from voice_avatar.settings import ExperimentSpec, Settings

AB = {"tiers": ["premium"], "arms": {"elevenlabs": {"engine": "elevenlabs"}, "fishaudio": {"engine": "fishaudio"}}}


def spec(arms: dict[str, float], tiers: tuple[str, ...] = ("premium",), active: bool = True) -> ExperimentSpec:
    return ExperimentSpec(
        active=active, tiers=list(tiers), arms={name: {"engine": "local", "weight": w} for name, w in arms.items()}
    )


# --- settings ---------------------------------------------------------------------------------------------------


def test_no_experiments_by_default(tmp_path) -> None:
    assert Settings(home=tmp_path).experiments == {}


def test_experiments_come_from_the_environment_as_json(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICE_AVATAR_EXPERIMENTS", '{"engine-ab": ' + str(AB).replace("'", '"') + "}")
    experiment = Settings(home=tmp_path).experiments["engine-ab"]
    assert experiment.active and experiment.tiers == ["premium"]
    assert experiment.arms["fishaudio"].engine == "fishaudio" and experiment.arms["fishaudio"].weight == 1.0


@pytest.mark.parametrize(
    "arms",
    [
        {"only": {"engine": "local"}},
        {"a": {"engine": "local"}, "b": {"engine": "local", "weight": 0}},
        {"a": {"engine": "local"}, "b": {"engine": "local", "weight": -1}},
        {"a": {"engine": "local"}, "b": {"engine": "local", "weight": "inf"}},
        {"a": {"engine": "local"}, "b": {"engine": "no-such-engine"}},  # unpriced: cost could not be compared
        {"a": {"engine": "local"}, "x" * 65: {"engine": "local"}},  # longer than the column
    ],
)
def test_bad_experiments_are_refused_at_startup(tmp_path, arms: dict) -> None:
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, experiments={"e": {"tiers": ["premium"], "arms": arms}})


def test_an_experiment_needs_tiers(tmp_path) -> None:
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, experiments={"e": {**AB, "tiers": []}})


def test_specs_are_frozen() -> None:
    with pytest.raises(ValidationError):
        ExperimentSpec.model_validate(AB).active = False  # type: ignore[misc]


# --- assignment -------------------------------------------------------------------------------------------------


def test_assignment_is_a_fixed_function_of_experiment_and_user() -> None:
    """Golden values: a change here would move every running experiment's users between arms."""
    experiment = ExperimentSpec.model_validate(AB)
    arms = [assign(experiment, "engine-ab", f"user-{i}") for i in range(6)]
    assert arms == ["fishaudio", "elevenlabs", "elevenlabs", "fishaudio", "fishaudio", "fishaudio"]
    assert assign(experiment, "engine-ab-2", "user-0") == assign(experiment, "engine-ab-2", "user-0")


def test_assignment_is_the_same_in_another_process() -> None:
    code = (
        "from voice_avatar.experiments import assign; from voice_avatar.settings import ExperimentSpec; "
        f"s = ExperimentSpec.model_validate({AB!r}); "
        "print(','.join(assign(s, 'engine-ab', f'user-{i}') for i in range(50)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # str hashes differ between processes; ours must not
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    experiment = ExperimentSpec.model_validate(AB)
    assert out.strip().split(",") == [assign(experiment, "engine-ab", f"user-{i}") for i in range(50)]


def test_arm_order_in_the_settings_does_not_matter() -> None:
    forward, backward = spec({"a": 1, "b": 2, "c": 3}), spec({"c": 3, "b": 2, "a": 1})
    assert all(assign(forward, "e", f"u{i}") == assign(backward, "e", f"u{i}") for i in range(500))


@pytest.mark.parametrize("weights", [{"a": 1, "b": 1}, {"a": 1, "b": 3}, {"control": 0.5, "x": 0.25, "y": 0.25}])
def test_users_split_by_weight(weights: dict[str, float]) -> None:
    """10,000 ids; each arm's count within 5 binomial sigmas of its share (deterministic: the hash is fixed)."""
    n = 10_000
    experiment = spec(weights)
    counts = {name: 0 for name in weights}
    for i in range(n):
        counts[assign(experiment, "split-test", f"user-{i:05d}")] += 1
    total = sum(weights.values())
    for name, weight in weights.items():
        p = weight / total
        assert abs(counts[name] - n * p) <= 5 * math.sqrt(n * p * (1 - p)), (name, counts)


def test_experiments_split_users_independently() -> None:
    """Two 50/50 experiments must not put the same users in the same arm (the name salts the hash)."""
    first, second = spec({"a": 1, "b": 1}), spec({"a": 1, "b": 1})
    same = sum(assign(first, "one", f"u{i}") == assign(second, "two", f"u{i}") for i in range(10_000))
    assert abs(same - 5000) <= 5 * math.sqrt(10_000 * 0.25)


def test_experiment_for_picks_the_first_active_experiment_for_the_tier(tmp_path) -> None:
    settings = Settings(
        home=tmp_path,
        experiments={
            "paused": {**AB, "active": False},
            "starters": {**AB, "tiers": ["starter"]},
            "engine-ab": AB,
            "later": AB,
        },
    )
    premium = User(id="user-0", name="P", tier="premium")
    arms = settings.experiments["engine-ab"].arms
    assert experiment_for(settings, premium) == ("engine-ab", "fishaudio", arms["fishaudio"])
    assert experiment_for(settings, User(id="user-0", name="S", tier="starter"))[0] == "starters"
    assert experiment_for(settings, User(id="user-0", name="F", tier="free")) is None
    assert experiment_for(Settings(home=tmp_path), premium) is None


# --- outcomes, ratings and the report (both databases) ----------------------------------------------------------


def make_user(session: Session, name: str, tier: str = "premium", admin: bool = False) -> tuple[User, str]:
    return accounts.create_user(session, name, tier, admin)


def message(session: Session, user: User, engine: str = "elevenlabs") -> int:
    return record_usage(
        session,
        user=user,
        engine=engine,
        characters=100,
        cache_hit=False,
        latency_ms=300,
        rates={"elevenlabs": Decimal("0.30"), "fishaudio": Decimal("0.0075")},
    ).id


def outcome(
    session: Session,
    user: User,
    arm: str,
    latency: int,
    cost: str,
    quality: float | None = None,
    rating: int | None = None,
    engine: str | None = None,
) -> ExperimentOutcome:
    row = record_outcome(
        session,
        experiment="engine-ab",
        arm=arm,
        user_id=user.id,
        engine=engine or arm,
        latency_ms=latency,
        cost_usd=Decimal(cost),
        quality=quality,
        usage_event_id=message(session, user),
    )
    if rating is not None:
        rate_message(session, user, row.usage_event_id, rating)
    return row


@pytest.fixture
def outcomes(session_factory: SessionFactory) -> dict[str, str]:
    """A small fixed experiment: arm a has 4 messages from 2 users, arm b 3 from 1; one row of another experiment."""
    with session_factory.begin() as session:
        ann, _ = make_user(session, "Ann")
        bob, _ = make_user(session, "Bob")
        cat, _ = make_user(session, "Cat")
        outcome(session, ann, "a", 100, "0.010000", quality=3.0, rating=5)
        outcome(session, ann, "a", 200, "0.020000", quality=3.5)
        outcome(session, bob, "a", 300, "0.030000", rating=4)
        outcome(session, bob, "a", 400, "0.040000", quality=4.0, engine="fishaudio")  # failed over: still arm a
        outcome(session, cat, "b", 150, "0.001000", quality=2.0, rating=2)
        outcome(session, cat, "b", 250, "0.002000")
        outcome(session, cat, "b", 650, "0.003000")
        record_outcome(
            session, experiment="other", arm="a", user_id=ann.id, engine="local", latency_ms=1, cost_usd=Decimal(0)
        )
        return {"ann": ann.id, "bob": bob.id, "cat": cat.id}


def t_interval(values: list[float]) -> list[float]:
    data = np.array(values, dtype=float)
    low, high = stats.t.interval(0.95, len(data) - 1, loc=data.mean(), scale=stats.sem(data))
    return [low, high]


def test_report_matches_hand_computation(session_factory: SessionFactory, outcomes: dict[str, str]) -> None:
    with session_factory() as session:
        result = report(session, "engine-ab")
    assert result["experiment"] == "engine-ab" and result["baseline"] == "a"
    assert list(result["arms"]) == ["a", "b"] and list(result["comparisons"]) == ["b"]
    a, b = result["arms"]["a"], result["arms"]["b"]
    assert (a["messages"], a["users"], a["engines"]) == (4, 2, {"a": 3, "fishaudio": 1})
    assert (b["messages"], b["users"]) == (3, 1)

    # latency a = 100..400: mean 250, sd sqrt(50000/3), t(0.975, 3) = 3.182446305...
    half = 3.182446305284263 * math.sqrt(50000 / 3) / 2
    assert a["latency_ms"]["n"] == 4 and a["latency_ms"]["mean"] == 250
    assert a["latency_ms"]["ci95"] == pytest.approx([250 - half, 250 + half], abs=1e-6)
    assert a["latency_ms"]["ci95"] == pytest.approx(t_interval([100, 200, 300, 400]), abs=1e-6)
    assert (a["latency_ms"]["p50"], a["latency_ms"]["p95"]) == (250, 385)  # linear: 100 + 0.95 * 3 * 100
    assert b["latency_ms"]["mean"] == 350 and (b["latency_ms"]["p50"], b["latency_ms"]["p95"]) == (250, 610)

    assert a["cost_usd"]["mean"] == pytest.approx(0.025) and a["cost_usd"]["total"] == "0.100000"
    assert a["cost_usd"]["ci95"] == pytest.approx(t_interval([0.01, 0.02, 0.03, 0.04]), abs=1e-6)
    assert b["cost_usd"]["total"] == "0.006000"

    assert a["quality"]["n"] == 3 and a["quality"]["mean"] == pytest.approx(3.5)
    assert a["quality"]["ci95"] == pytest.approx(t_interval([3.0, 3.5, 4.0]), abs=1e-6)
    assert b["quality"] == {"n": 1, "mean": 2.0, "ci95": None}  # one value: no spread, no interval
    assert a["rating"]["n"] == 2 and a["rating"]["mean"] == 4.5
    assert a["rating"]["ci95"] == pytest.approx(t_interval([5, 4]), abs=1e-6)
    assert b["rating"] == {"n": 1, "mean": 2.0, "ci95": None}

    diff = result["comparisons"]["b"]
    assert diff["vs"] == "a"
    welch = stats.ttest_ind([150, 250, 650], [100, 200, 300, 400], equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert diff["latency_ms"]["diff"] == 100
    assert diff["latency_ms"]["ci95"] == pytest.approx([ci.low, ci.high], abs=1e-6)
    assert diff["latency_ms"]["df"] == pytest.approx(welch.df, abs=1e-6)
    assert diff["latency_ms"]["excludes_zero"] is False
    welch = stats.ttest_ind([0.001, 0.002, 0.003], [0.01, 0.02, 0.03, 0.04], equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert diff["cost_usd"]["diff"] == pytest.approx(-0.023)
    assert diff["cost_usd"]["ci95"] == pytest.approx([ci.low, ci.high], abs=1e-6)
    assert ci.high < 0 and diff["cost_usd"]["excludes_zero"] is True
    assert diff["quality"] == {"diff": -1.5, "ci95": None, "excludes_zero": None, "df": None}
    assert diff["rating"]["diff"] == -2.5 and diff["rating"]["ci95"] is None


def test_report_of_constant_arms_and_empty_arms(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        ann, _ = make_user(session, "Ann")
        for arm, latency in (("a", 100), ("a", 100), ("b", 300), ("b", 300)):
            outcome(session, ann, arm, latency, "0.010000")
        result = report(session, "engine-ab", arms=["a", "b", "c"])
    assert result["comparisons"]["b"]["latency_ms"] == {
        "diff": 200,
        "ci95": [200, 200],
        "excludes_zero": True,
        "df": None,
    }
    assert result["comparisons"]["b"]["cost_usd"]["excludes_zero"] is False
    empty = result["arms"]["c"]
    assert (empty["messages"], empty["users"], empty["latency_ms"]["p50"], empty["cost_usd"]["total"]) == (
        0,
        0,
        None,
        "0.000000",
    )
    assert result["comparisons"]["c"]["latency_ms"]["diff"] is None


def test_report_of_an_experiment_without_outcomes(session_factory: SessionFactory) -> None:
    with session_factory() as session:
        assert report(session, "nothing") == {
            "experiment": "nothing",
            "confidence": 0.95,
            "baseline": None,
            "arms": {},
            "comparisons": {},
        }


def test_a_user_rates_only_their_own_experiment_messages(
    session_factory: SessionFactory, outcomes: dict[str, str]
) -> None:
    with session_factory.begin() as session:
        ann, bob = session.get(User, outcomes["ann"]), session.get(User, outcomes["bob"])
        annes = (
            session.query(ExperimentOutcome)
            .filter_by(user_id=ann.id, experiment="engine-ab")
            .order_by(ExperimentOutcome.id)
            .all()
        )
        rated = rate_message(session, ann, annes[1].usage_event_id, 3)
        assert (rated.id, rated.rating) == (annes[1].id, 3)
        assert rate_message(session, ann, annes[1].usage_event_id, 1).rating == 1  # a second thought replaces
        with pytest.raises(NotFoundError):
            rate_message(session, bob, annes[1].usage_event_id, 5)  # Ann's message
        with pytest.raises(NotFoundError):
            rate_message(session, ann, message(session, ann), 5)  # served outside any experiment
        with pytest.raises(NotFoundError):
            rate_message(session, ann, 10**12, 5)
        for bad in (0, 6, -1, 4.5, "5", True, None):
            with pytest.raises(InputError):
                rate_message(session, ann, annes[0].usage_event_id, bad)  # type: ignore[arg-type]
    with session_factory() as session:
        assert session.get(ExperimentOutcome, annes[1].id).rating == 1
        assert session.get(ExperimentOutcome, annes[0].id).rating == 5


# --- routes -----------------------------------------------------------------------------------------------------


@pytest.fixture
def client(session_factory: SessionFactory, tmp_path) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.sessions = session_factory
    app.state.settings = Settings(home=tmp_path, experiments={"engine-ab": AB, "idle": {**AB, "active": False}})
    return TestClient(app)


def keys(session_factory: SessionFactory) -> dict[str, dict[str, str]]:
    with session_factory.begin() as session:
        made = {name: make_user(session, name, admin=name == "root") for name in ("ann", "bob", "root")}
        return {name: {"Authorization": f"Bearer {key}", "id": user.id} for name, (user, key) in made.items()}


def test_rating_route(client: TestClient, session_factory: SessionFactory) -> None:
    users = keys(session_factory)
    ann, bob = ({"Authorization": users[n]["Authorization"]} for n in ("ann", "bob"))
    with session_factory.begin() as session:
        mine = outcome(session, session.get(User, users["ann"]["id"]), "elevenlabs", 300, "0.030000").usage_event_id

    response = client.post("/v1/ratings", json={"message_id": mine, "rating": 4}, headers=ann)
    assert response.status_code == 200 and response.json() == {"message_id": mine, "rating": 4}

    response = client.post("/v1/ratings", json={"message_id": mine, "rating": 4}, headers=bob)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    for body in (
        {"message_id": mine, "rating": 6},
        {"message_id": mine, "rating": 0},
        {"message_id": mine},
        {"message_id": 2**63, "rating": 3},
        {"message_id": mine, "rating": 4.5},
    ):
        response = client.post("/v1/ratings", json=body, headers=ann)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request", body
    assert client.post("/v1/ratings", json={"message_id": mine, "rating": 4}).status_code == 401
    with session_factory() as session:
        assert session.query(ExperimentOutcome).one().rating == 4


def test_admin_routes(client: TestClient, session_factory: SessionFactory) -> None:
    users = keys(session_factory)
    ann, root = ({"Authorization": users[n]["Authorization"]} for n in ("ann", "root"))
    with session_factory.begin() as session:
        user = session.get(User, users["ann"]["id"])
        outcome(session, user, "elevenlabs", 300, "0.030000", rating=5)
        outcome(session, user, "elevenlabs", 500, "0.050000", rating=4)
        outcome(session, user, "fishaudio", 200, "0.002000", engine="fishaudio")
        record_outcome(
            session, experiment="retired", arm="x", user_id=user.id, engine="local", latency_ms=9, cost_usd=Decimal(0)
        )

    assert client.get("/v1/experiments", headers=ann).status_code == 403
    listed = client.get("/v1/experiments", headers=root).json()["experiments"]
    assert [e["name"] for e in listed] == ["engine-ab", "idle"]
    assert listed[0] == {
        "name": "engine-ab",
        "active": True,
        "tiers": ["premium"],
        "arms": {
            "elevenlabs": {"engine": "elevenlabs", "weight": 1.0},
            "fishaudio": {"engine": "fishaudio", "weight": 1.0},
        },
    }

    assert client.get("/v1/experiments/engine-ab/report", headers=ann).status_code == 403
    body = client.get("/v1/experiments/engine-ab/report", headers=root).json()
    assert body["baseline"] == "elevenlabs" and body["spec"]["tiers"] == ["premium"]
    assert body["arms"]["elevenlabs"]["latency_ms"]["mean"] == 400 and body["arms"]["elevenlabs"]["rating"]["n"] == 2
    assert body["arms"]["fishaudio"]["engines"] == {"fishaudio": 1}
    assert body["comparisons"]["fishaudio"]["latency_ms"]["diff"] == -200

    idle = client.get("/v1/experiments/idle/report", headers=root).json()  # configured, no data yet: both arms
    assert list(idle["arms"]) == ["elevenlabs", "fishaudio"] and idle["arms"]["fishaudio"]["messages"] == 0
    retired = client.get("/v1/experiments/retired/report", headers=root).json()  # data, no longer configured
    assert retired["spec"] is None and retired["arms"]["x"]["messages"] == 1

    response = client.get("/v1/experiments/nope/report", headers=root)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
