"""Shared pieces of the `perf_*` benchmarks: statistics, machine load, peak memory, service processes.

Every perf bench reports its figures next to a physical reference measured in the same run
(raw Piper, a bare Redis GET, an empty route), records `os.getloadavg()` before and after, and
writes JSON to bench/results/perf_*.json. This module is imported by them, not run.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "service"), str(ROOT / "tests")]
RESULTS = ROOT / "bench" / "results"
VOICES = ROOT.parent / "shared" / "voices" / "librispeech"
SAMPLES = [sorted((VOICES / "2609").glob("*.flac"))[i] for i in (2, 4)]  # about 29 s of one reader
CLI = str(Path(sys.executable).with_name("voice-avatar"))
PG_ADMIN_URL = os.environ.get("VOICE_AVATAR_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
#: Redis databases the benches may use; one is taken only when empty, and flushed when done.
REDIS_BENCH_DBS = (9, 10, 11, 12)

# Started in the background by a script, a bench inherits an ignored SIGINT; restore it so that
# Ctrl-C / `kill -INT` still runs the cleanups (stop the servers, drop the database).
signal.signal(signal.SIGINT, signal.default_int_handler)


def git_sha() -> str | None:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    sha = done.stdout.strip() or None
    return f"{sha}+dirty" if sha and dirty else sha


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_times() -> tuple[int, int, int]:
    """The machine's busy, total and stolen CPU ticks (/proc/stat): a VM's host can take cores
    away mid-run ("steal"), which slows every figure of that run alike."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle, steal = ticks[3] + ticks[4], ticks[7]
    return sum(ticks) - idle - steal, sum(ticks), steal


def busy_and_steal(before: tuple[int, int, int], after: tuple[int, int, int]) -> dict:
    total = max(after[1] - before[1], 1)
    return {"machine_busy": round((after[0] - before[0]) / total, 3), "steal": round((after[2] - before[2]) / total, 3)}


def machine() -> dict:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"cpus": os.cpu_count(), "loadavg_at_start": loadavg(), "started_utc": started}


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def ms_stats(seconds: list[float]) -> dict:
    """n, median, p90, p99, min and max of durations given in seconds, in milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- memory ------------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (uvicorn's --workers children, multiprocessing helpers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def memory_mb(pid: int) -> dict:
    """Peak (VmHWM, the kernel's high-water mark) and current resident memory of one process, MB."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = round(int(rest.split()[0]) / 1024, 1)
    except OSError:
        return {}
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        command = " ".join(a.decode(errors="replace").rsplit("/", 1)[-1] for a in argv[:4] if a)[:80]
    except OSError:
        command = ""
    return {"peak_rss_mb": values.get("VmHWM"), "rss_mb": values.get("VmRSS"), "command": command}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes so far (to wait until a server has gone idle)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields_[11]) + int(fields_[12])
    return total / ticks


def wait_idle(pids: list[int], quiet_cpu_fraction: float = 0.05, window: float = 1.0, timeout: float = 300) -> float:
    """Block until the processes use under `quiet_cpu_fraction` of a core over `window`; seconds waited."""
    started = time.monotonic()
    last = cpu_seconds(pids)
    while time.monotonic() - started < timeout:
        time.sleep(window)
        now = cpu_seconds(pids)
        if now - last < quiet_cpu_fraction * window:
            break
        last = now
    return round(time.monotonic() - started, 1)


# ---- processes ---------------------------------------------------------------------------------


class Service:
    """A subprocess (`voice-avatar serve`, `worker`, or a bench launcher) with its log; stop() by pid."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.logs = name, logs
        self.log_path = logs / f"{name}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.base: str | None = None

    @classmethod
    def api(cls, name: str, env: dict[str, str], logs: Path, *extra: str, argv: list[str] | None = None) -> Service:
        port = free_port()
        service = cls(name, [*(argv or [CLI, "serve"]), "--port", str(port), *extra], env, logs)
        service.base = f"http://127.0.0.1:{port}"
        service.wait_ready()
        return service

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not become ready: {self.log_path.read_text()[-3000:]}")

    @property
    def pids(self) -> list[int]:
        return descendants(self.process.pid) if self.process.poll() is None else []

    def memory(self) -> dict:
        """Peak RSS of the process and each child (uvicorn workers), read while they still run."""
        rows = {str(pid): memory_mb(pid) for pid in self.pids}
        peaks = [r["peak_rss_mb"] for r in rows.values() if r.get("peak_rss_mb")]
        return {"processes": rows, "max_peak_rss_mb": max(peaks, default=None), "sum_peak_rss_mb": round(sum(peaks), 1)}

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# ---- databases ---------------------------------------------------------------------------------


def create_pg_database(prefix: str = "voice_avatar_perf") -> str:
    from sqlalchemy.engine import make_url

    from voice_avatar.db import create_engine_for

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine_for(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    from voice_avatar.db import create_engine_for

    admin = create_engine_for(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        admin.dispose()


def empty_redis_url(host: str = "127.0.0.1", port: int = 6379) -> str:
    """The first of REDIS_BENCH_DBS holding no keys: the bench may then flush it when done."""
    import redis

    for db in REDIS_BENCH_DBS:
        client = redis.Redis(host=host, port=port, db=db)
        try:
            if client.dbsize() == 0:
                return f"redis://{host}:{port}/{db}"
        finally:
            client.close()
    raise RuntimeError(f"no empty Redis database among {REDIS_BENCH_DBS}; the bench flushes the one it uses")


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


# ---- the API flow ------------------------------------------------------------------------------


def cli_user(env: dict[str, str], name: str, tier: str = "free") -> tuple[str, dict[str, str]]:
    """A user made with `voice-avatar users create`: (user id, Authorization header)."""
    made = subprocess.run(
        [CLI, "users", "create", "--name", name, "--tier", tier, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    body = json.loads(made.stdout)
    return body["user_id"], {"Authorization": f"Bearer {body['api_key']}"}


def cli_set_tier(env: dict[str, str], user_id: str, tier: str) -> None:
    """Enroll as free (10 s of speech suffice; premium asks 60 s), then move to premium: unlimited messages."""
    subprocess.run([CLI, "users", "set-tier", user_id, tier], env=env, capture_output=True, check=True)


def wait_done(client: httpx.Client, avatar_id: str, auth: dict[str, str], timeout: float = 600) -> dict:
    """Poll until the avatar is rejected or failed, or ready with its pre-generation finished.

    Not `stage == "done"` alone (the tests' helper): the fitting step reports its own last stage
    as "done" while the avatar is still pending, before the clone gate runs.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/avatars/{avatar_id}", headers=auth).json()
        if body["status"] in ("failed", "rejected") or (body["status"] == "ready" and body["stage"] == "done"):
            return body
        time.sleep(0.5)
    raise RuntimeError(f"avatar {avatar_id} not done after {timeout} s")


def upload(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("samples", (p.name, p.read_bytes(), "audio/flac")) for p in paths]


def enroll(
    base: str, auth: dict[str, str], name: str = "Bench", samples: list[Path] = SAMPLES, timeout: float = 600
) -> dict:
    """POST /v1/avatars, then poll until the job (fit, gate, pre-generation) is done."""
    with httpx.Client(base_url=base, timeout=120) as client:
        created = client.post("/v1/avatars", data={"name": name}, files=upload(samples), headers=auth)
        assert created.status_code == 202, created.text
        return wait_done(client, created.json()["id"], auth, timeout=timeout)


# ---- closed-loop load --------------------------------------------------------------------------


@dataclass
class Level:
    """What `clients` concurrent closed-loop clients got in `window` seconds."""

    clients: int
    window_s: float
    latencies: list[float] = field(default_factory=list)  # successful requests that finished in the window
    ok: int = 0
    ok_after_window: int = 0  # finished during the drain
    errors: dict[str, int] = field(default_factory=dict)
    unfinished: int = 0  # still running when the drain ended (cut by the bench, not refused by the server)
    cache: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def answered(self, status: int, cache_tag: str, sent: float, done: float, window_end: float) -> None:
        """Count one response: an error unless 200; else its X-Cache tag and, in the window, its latency."""
        if status != 200:
            self.error(f"http_{status}")
            return
        self.cache[cache_tag] = self.cache.get(cache_tag, 0) + 1
        if done <= window_end:
            self.ok += 1
            self.latencies.append(done - sent)
        else:
            self.ok_after_window += 1

    async def run(self, client: Callable[[int], Awaitable[None]], drain: float) -> None:
        """Run `client(i)` for every client; those still running after the window and `drain` are cut."""
        tasks = [asyncio.create_task(client(i)) for i in range(self.clients)]
        _, pending = await asyncio.wait(tasks, timeout=self.window_s + drain)
        self.unfinished = len(pending)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def summary(self) -> dict:
        return {
            "clients": self.clients,
            "window_s": self.window_s,
            "ok_in_window": self.ok,
            "req_per_s": round(self.ok / self.window_s, 1),
            "ok_after_window": self.ok_after_window,
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "unfinished_at_cutoff": self.unfinished,
            "x_cache": self.cache,
            "latency": ms_stats(self.latencies),
        }


Request = tuple[str, str, dict]  # method, url, httpx keyword arguments


async def closed_loop(
    make_request: Callable[[int, int], Request],
    clients: int,
    window: float,
    drain: float = 0.0,
    timeout: float = 600.0,
    max_requests_per_client: int | None = None,
) -> Level:
    """Each client sends `make_request(client, n)` back to back until the window closes.

    Requests started in the window may finish during `drain`; those still running then are
    cancelled and counted as unfinished (the server was still working on them, not refusing).
    """
    level = Level(clients, window)
    # One client (and connection) per simulated user: a single httpx pool with hundreds of
    # connections spends O(connections^2) per request choosing one, and the driver, not the
    # server, becomes the bottleneck. The clients are made before the clock starts.
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    https = [httpx.AsyncClient(limits=one, timeout=timeout, verify=False) for _ in range(clients)]
    started = time.perf_counter()
    window_end = started + window

    async def client(index: int) -> None:
        http, n = https[index], 0
        while time.perf_counter() < window_end:
            if max_requests_per_client is not None and n >= max_requests_per_client:
                return
            method, url, kwargs = make_request(index, n)
            n += 1
            sent = time.perf_counter()
            try:
                response = await http.request(method, url, **kwargs)
            except httpx.HTTPError as error:
                level.error(type(error).__name__)
                continue
            tag = response.headers.get("x-cache", "none")
            level.answered(response.status_code, tag, sent, time.perf_counter(), window_end)

    try:
        await level.run(client, drain)
    finally:
        await asyncio.gather(*(http.aclose() for http in https), return_exceptions=True)
    return level
