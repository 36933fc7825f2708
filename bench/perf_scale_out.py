"""Scale-out on PostgreSQL + Redis: enrollments spread over two API processes and two workers, and
speech throughput through one API process against two.

Run by `scripts/scale_out.sh`, which creates a fresh database, picks an empty Redis database,
starts the processes (`voice-avatar serve` x2, `voice-avatar worker` x2) and passes their URLs
and pids here; it stops them and drops the database afterwards. This script:

1. posts N enrollments (four readers of the dev set, cycled, plus one clip too short to clone,
   which must end `failed`), alternating between the API processes, and waits until every one
   has ended (ready, rejected or failed): a job still pending at the deadline is a lost job;
2. sends cache hits, then misses (every text new), from 16 closed-loop clients through API
   process A alone, then through A and B; the reference is the same load on one process;
3. reads the peak RSS (VmHWM) of every API and worker process.

    bash scripts/scale_out.sh            # writes bench/results/perf_scale_out.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import httpx
from perf_common import (
    VOICES,
    cli_set_tier,
    cli_user,
    closed_loop,
    cpu_seconds,
    descendants,
    git_sha,
    loadavg,
    machine,
    memory_mb,
    upload,
    wait_idle,
    write_result,
)

READERS = {  # about 30 s of each reader: free-tier enrollments (10 s of speech needed)
    "2609": (2, 4),
    "1998": (0, 2, 4),
    "2033": (6, 8),
    "3331": (0, 8),
}
TOO_SHORT = ("1998", (8,))  # a 2.9 s clip: the sample check refuses it, the job ends `failed`
HIT_TEXTS = (
    "Your meeting with the design team has been moved to four fifteen.",
    "Don't forget to call your sister, it's her birthday today.",
    "The package should arrive on Thursday between 9 AM and noon.",
)


def _files(reader: str, picks: tuple[int, ...]) -> list[Path]:
    files = sorted((VOICES / reader).glob("*.flac"))
    return [files[i] for i in picks]


def enrollments(apis: list[str], count: int, timeout: float) -> dict:
    """Post `count` good enrollments and one unfit one, round robin over the APIs; wait for all."""
    users = [cli_user(dict(os.environ), f"scale-user-{i}") for i in range(2)]
    readers = list(READERS.items()) * (count // len(READERS) + 1)
    plan = [(f"{reader}-{i}", _files(reader, picks)) for i, (reader, picks) in enumerate(readers[:count])]
    plan.append(("too-short", _files(*TOO_SHORT)))
    posted = []
    started = time.perf_counter()
    with httpx.Client(timeout=120) as client:
        for i, (name, files) in enumerate(plan):
            api, (user_id, auth) = apis[i % len(apis)], users[i % len(users)]
            created = client.post(f"{api}/v1/avatars", data={"name": name}, files=upload(files), headers=auth)
            assert created.status_code == 202, created.text
            posted.append({"name": name, "id": created.json()["id"], "api": api, "user": user_id, "auth": auth})
        deadline = time.monotonic() + timeout
        finished: dict[str, dict] = {}
        while len(finished) < len(posted) and time.monotonic() < deadline:
            for job in posted:
                if job["id"] in finished:
                    continue
                other = apis[(apis.index(job["api"]) + 1) % len(apis)]  # read through the other process
                body = client.get(f"{other}/v1/avatars/{job['id']}", headers=job["auth"]).json()
                done = body["status"] in ("failed", "rejected") or (
                    body["status"] == "ready" and body["stage"] == "done"
                )
                if done:
                    finished[job["id"]] = {
                        "name": job["name"],
                        "status": body["status"],
                        "seconds": round(time.perf_counter() - started, 1),
                        "error": body.get("error"),
                    }
            time.sleep(1)
    rows = [
        finished.get(job["id"], {"name": job["name"], "status": "LOST (still pending at the deadline)"})
        for job in posted
    ]
    statuses = Counter(r["status"] for r in rows)
    ready = next(job for job in posted if finished.get(job["id"], {}).get("status") == "ready")
    return {
        "posted": len(posted),
        "statuses": dict(statuses),
        "lost": sum(1 for r in rows if r["status"].startswith("LOST")),
        "all_done_s": round(time.perf_counter() - started, 1),
        "unfit_one_failed": rows[-1]["status"] == "failed",
        "rows": rows,
        "speaker": {"user_id": ready["user"], "auth": ready["auth"], "avatar_id": ready["id"]},
    }


def throughput(apis: list[str], api_pids: list[int], speaker: dict, clients: int, windows: dict) -> dict:
    counter = {"n": 0}

    def hit(client: int, n: int):
        base = apis[client % len(apis)]
        body = {"text": HIT_TEXTS[(client + n) % len(HIT_TEXTS)], "format": "mp3"}
        return "POST", f"{base}/v1/avatars/{speaker['avatar_id']}/speech", {"json": body, "headers": speaker["auth"]}

    def miss(client: int, n: int):
        counter["n"] += 1
        base = apis[client % len(apis)]
        body = {"text": f"Scale out note number {counter['n']} with {len(apis)} processes.", "format": "mp3"}
        return "POST", f"{base}/v1/avatars/{speaker['avatar_id']}/speech", {"json": body, "headers": speaker["auth"]}

    out = {}
    for name, make, window, drain in (
        ("hits", hit, windows["hits"], 10.0),
        ("misses", miss, windows["misses"], windows["misses_drain"]),
    ):
        cpu_before, load_before = cpu_seconds(api_pids), loadavg()
        level = asyncio.run(closed_loop(make, clients, window, drain=drain))
        row = level.summary()
        row["api_cpu_s"] = round(cpu_seconds(api_pids) - cpu_before, 2)
        row["loadavg_before"], row["loadavg_after"] = load_before, loadavg()
        row["idle_wait_s"] = wait_idle(api_pids)
        out[name] = row
        print(
            f"  {len(apis)} API process(es), {name}: {row['req_per_s']} req/s, p50 {row['latency'].get('p50_ms')} ms, "
            f"p99 {row['latency'].get('p99_ms')} ms, errors {row['errors']}, unfinished {row['unfinished_at_cutoff']}",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", action="append", required=True, help="base URL of an API process (twice)")
    parser.add_argument("--api-pid", action="append", type=int, default=[])
    parser.add_argument("--worker-pid", action="append", type=int, default=[])
    parser.add_argument("--enrollments", type=int, default=4)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    windows = (
        {"hits": 3.0, "misses": 6.0, "misses_drain": 10.0}
        if args.quick
        else {"hits": 15.0, "misses": 30.0, "misses_drain": 30.0}
    )
    result = {
        "benchmark": "perf_scale_out",
        "git_sha": git_sha(),
        **machine(),
        "apis": len(args.api),
        "workers": len(args.worker_pid),
        "database": "postgresql (fresh, dropped after)",
        "redis": True,
        "clients": args.clients,
        "windows_s": windows,
    }
    api_pids = sorted({p for pid in args.api_pid for p in descendants(pid)})
    print(f"enrolling {args.enrollments} + 1 unfit avatar through {len(args.api)} API processes", flush=True)
    result["enrollments"] = enrollments(args.api, args.enrollments, timeout=1200)
    speaker = result["enrollments"].pop("speaker")
    print(
        f"  {result['enrollments']['statuses']} in {result['enrollments']['all_done_s']} s, "
        f"lost {result['enrollments']['lost']}",
        flush=True,
    )
    cli_set_tier(dict(os.environ), speaker["user_id"], "premium")
    with httpx.Client(timeout=300) as client:  # the hit texts: synthesised once, then cached (shared by both APIs)
        for text in HIT_TEXTS:
            client.post(
                f"{args.api[0]}/v1/avatars/{speaker['avatar_id']}/speech",
                json={"text": text, "format": "mp3"},
                headers=speaker["auth"],
            )
        for api in args.api:  # load Piper in each process before timing
            client.post(
                f"{api}/v1/avatars/{speaker['avatar_id']}/speech",
                json={"text": f"Warming up {api[-5:]}.", "format": "mp3"},
                headers=speaker["auth"],
            )
    result["loadavg_before_speech"] = loadavg()
    result["speech"] = {
        "one_api": throughput(args.api[:1], api_pids, speaker, args.clients, windows),
        "two_apis": throughput(args.api, api_pids, speaker, args.clients, windows),
    }
    result["loadavg_after_speech"] = loadavg()
    result["speedup_two_over_one"] = {
        kind: round(result["speech"]["two_apis"][kind]["req_per_s"] / result["speech"]["one_api"][kind]["req_per_s"], 2)
        if result["speech"]["one_api"][kind]["req_per_s"]
        else None
        for kind in ("hits", "misses")
    }
    result["memory"] = {
        "api": {str(pid): memory_mb(pid) for pid in api_pids},
        "worker": {str(pid): memory_mb(pid) for pid in args.worker_pid},
    }
    path = write_result("perf_scale_out", result)
    print({k: result[k] for k in ("speedup_two_over_one", "memory")})
    print(f"load {result['loadavg_at_start']} -> {result['loadavg_after_speech']}; wrote {path}")


if __name__ == "__main__":
    main()
