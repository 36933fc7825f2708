"""Fault tests' own throwaway servers: a Redis and a PostgreSQL cluster per test, on free ports.

These tests stop, kill and restart the servers they use, so they never touch the machine's shared
PostgreSQL (5432) or Redis (6379) that other tests run against. PostgreSQL refuses to run as root:
as root its data folder is owned by, and the server run as, the `postgres` user.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"
from processes import Processes, free_port  # noqa: F401 - Processes is the fixtures' type


def speech_files(speaker: str, count: int, start: int = 0) -> list[Path]:
    files = sorted((VOICES / speaker).glob("*.flac"))[start : start + count]
    if len(files) < count:
        pytest.skip(f"the shared LibriSpeech readings of speaker {speaker} are missing ({VOICES})")
    return files


class RedisServer:
    """`redis-server` without persistence on a free port: stop() and start() again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed")
        self.workdir, self.port, self.process = workdir, free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen([*args, "--dir", str(self.workdir)], stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=2)


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) in a temporary folder, on a free port."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            pytest.skip("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
        self.bin = Path(found[-1]).parent
        self.as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="va-faults-pg-"))  # under /tmp: reachable by `postgres`
        self.data, self.port = self.root / "data", free_port()
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        assert done.returncode == 0, f"{tool} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    made = Processes({}, tmp_path)
    try:
        yield made
    finally:
        made.stop_all()


def make_ready_avatar(settings, owner_id: str, name: str, speaker: str = "3331", clips: int = 2):
    """An avatar made ready directly in the store (real samples, a fitted profile), skipping the queue."""
    from voice_avatar.enrollment import PROFILE_FILE, Upload, add_inputs
    from voice_avatar.store import open_store

    store = open_store(settings, owner_id)
    files = speech_files(speaker, clips)
    record = store.create(name, engine="local")
    add_inputs(store, record, [Upload(p.name, p.read_bytes()) for p in files])
    store.put_blob(record, PROFILE_FILE, _fitted_profile(speaker, clips))
    record.status, record.stage, record.progress = "ready", "done", 1.0
    store.save(record)
    return store, record


@functools.lru_cache(maxsize=4)
def _fitted_profile(speaker: str, clips: int) -> bytes:
    """Fitting takes seconds: once per speaker for the whole session."""
    from voice_avatar.audio import load_audio
    from voice_avatar.engines.local import fit_profile

    return fit_profile([load_audio(p) for p in speech_files(speaker, clips)]).to_bytes()
