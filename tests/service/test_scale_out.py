"""Scale-out on PostgreSQL + Redis: two API processes and one worker serve the same avatar.

Real processes (`voice-avatar serve`, `voice-avatar worker`), a fresh PostgreSQL database and
Redis. The enrollment is posted to one API process that is then stopped before any worker
runs: the job must wait in Redis, be done by the worker, and be visible from the other process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"
SAMPLES = [sorted((VOICES / "2609").glob("*.flac"))[i] for i in (2, 4)]
CLI = str(Path(sys.executable).with_name("voice-avatar"))
REDIS_URL = os.environ.get("VOICE_AVATAR_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def environment(tmp_path: Path, fresh_pg_url: str) -> dict[str, str]:
    if os.environ.get("VOICE_AVATAR_TEST_NO_REDIS") == "1":
        pytest.skip("VOICE_AVATAR_TEST_NO_REDIS=1")
    return {
        **os.environ,
        "VOICE_AVATAR_HOME": str(tmp_path / "home"),
        "VOICE_AVATAR_DATABASE_URL": fresh_pg_url,
        "VOICE_AVATAR_REDIS_URL": REDIS_URL,
        "VOICE_AVATAR_REQUIRE_CONSENT": "false",
        "VOICE_AVATAR_PREGENERATE_PHRASES": '["Hello!"]',
    }


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.running = env, logs, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen([CLI, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.running.append(process)
        return process

    def api(self, name: str) -> str:
        port = free_port()
        self.start(name, "serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    return base
            except httpx.TransportError:
                time.sleep(0.3)
        raise AssertionError(f"{name} did not become ready: {(self.logs / f'{name}.log').read_text()[-2000:]}")

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_two_api_processes_and_a_worker_serve_the_same_avatar(environment: dict[str, str], tmp_path: Path) -> None:
    made = subprocess.run(
        [CLI, "users", "create", "--name", "Ann", "--json"], env=environment, capture_output=True, text=True, check=True
    )
    auth = {"Authorization": f"Bearer {json.loads(made.stdout)['api_key']}"}
    processes = Processes(environment, tmp_path)
    try:
        api_a, api_b = processes.api("api-a"), processes.api("api-b")
        files = [("samples", (p.name, p.read_bytes(), "audio/flac")) for p in SAMPLES]
        created = httpx.post(f"{api_a}/v1/avatars", data={"name": "Reader"}, files=files, headers=auth, timeout=60)
        assert created.status_code == 202, created.text
        avatar_id = created.json()["id"]
        processes.running[0].send_signal(signal.SIGTERM)  # API A goes away with the job still queued
        processes.running[0].wait(timeout=20)
        time.sleep(1)
        assert httpx.get(f"{api_b}/v1/avatars/{avatar_id}", headers=auth).json()["status"] == "pending"

        processes.start("worker", "worker")
        deadline = time.monotonic() + 400
        while (body := httpx.get(f"{api_b}/v1/avatars/{avatar_id}", headers=auth).json())["stage"] not in (
            "done",
            "failed",
        ):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(1)
        assert body["status"] == "ready", body

        api_c = processes.api("api-c")  # a fresh process: shares nothing with B but PostgreSQL and Redis
        speech = {"text": "Two processes, one voice.", "format": "mp3"}
        first = httpx.post(f"{api_b}/v1/avatars/{avatar_id}/speech", json=speech, headers=auth, timeout=120)
        assert first.status_code == 200 and first.headers["x-cache"] == "miss"
        again = httpx.post(f"{api_c}/v1/avatars/{avatar_id}/speech", json=speech, headers=auth, timeout=120)
        assert again.headers["x-cache"] == "hit" and again.content == first.content  # the cache is shared
        hello = httpx.post(
            f"{api_c}/v1/avatars/{avatar_id}/speech",
            json={"text": "Hello!", "format": "mp3"},
            headers=auth,
            timeout=120,
        )
        assert hello.headers["x-cache"] == "hit"  # pre-generated by the worker
        usage = httpx.get(f"{api_c}/v1/usage", headers=auth).json()
        assert usage["messages"] == 3 and usage["cache_hits"] == 2
    finally:
        processes.stop_all()
