"""`voice-avatar` subprocesses for the tests that need real processes (scale-out, fault injection)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).with_name("voice-avatar"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """`voice-avatar` subprocesses with one environment, logging to files; all stopped at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.running = env, logs, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen([CLI, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.running.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def api(self, name: str, *, ready: bool = False) -> str:
        """Start `serve` on a free port; wait until it answers (`ready`: until /readyz says 200)."""
        port = free_port()
        self.start(name, "serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"{base}/{'readyz' if ready else 'healthz'}", timeout=2).status_code
                if status == 200 or (not ready and status < 500):
                    return base
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{name} did not start: {self.log(name)}")

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
