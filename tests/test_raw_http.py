"""bench/raw_http.py against a real uvicorn server: bodies, chunking, errors, reconnects, timeouts.

The lean driver replaces httpx in the load benches, so it must count exactly as
`perf_common.closed_loop` does; the last test runs both on the same mix and compares.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from perf_common import closed_loop, free_port  # noqa: E402
from raw_http import raw_closed_loop  # noqa: E402

PIECES = [b"first piece ", bytes(range(256)) * 40, b"", b"\r\n0\r\n\r\n looks like a chunk end", b"last"]
BIG = bytes(range(256)) * 240  # 60 kB, arrives in several reads


def port_header(request: Request) -> dict[str, str]:
    return {"X-Client-Port": str(request.client.port)}


async def echo(request: Request) -> Response:
    """The request body as sent, with its Content-Type."""
    headers = {"X-Cache": "hit", "X-Anything": request.headers.get("x-anything", ""), **port_header(request)}
    return Response(await request.body(), media_type=request.headers["content-type"], headers=headers)


async def missing(request: Request) -> Response:
    return JSONResponse({"detail": "not here"}, status_code=404)


async def chunked(request: Request) -> Response:
    async def pieces():
        for piece in PIECES:
            yield piece
            await asyncio.sleep(0.001)

    return StreamingResponse(pieces(), media_type="application/octet-stream")


async def big(request: Request) -> Response:
    return Response(BIG, media_type="application/octet-stream")


async def close(request: Request) -> Response:
    return JSONResponse({"bye": True}, headers={"Connection": "close", **port_header(request)})


async def sleep(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params["s"]))
    return JSONResponse({"slept": True}, headers=port_header(request))


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["POST"]),
        Route("/missing", missing),
        Route("/chunked", chunked),
        Route("/big", big),
        Route("/close", close),
        Route("/sleep", sleep),
    ]
)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(APP, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def run(make, clients=1, requests=1, window=10.0, **options):
    """raw_closed_loop with every response recorded as (status, headers, body)."""
    seen = []
    level = asyncio.run(
        raw_closed_loop(
            make,
            clients,
            window,
            max_requests_per_client=requests,
            on_response=lambda *response: seen.append(response),
            **options,
        )
    )
    return level, seen


def test_json_round_trips_on_one_kept_alive_connection_per_client(base: str) -> None:
    def make(client: int, n: int):
        body = {"client": client, "n": n, "text": "héllo ✓"}
        return "POST", f"{base}/echo", {"json": body, "headers": {"X-Anything": "y"}}

    level, seen = run(make, clients=4, requests=5)
    assert (level.ok, level.ok_after_window, level.errors, level.unfinished) == (20, 0, {}, 0)
    assert level.cache == {"hit": 20} and len(level.latencies) == 20
    bodies = sorted(body for _, _, body in seen)
    expected = sorted(
        json.dumps({"client": c, "n": n, "text": "héllo ✓"}, separators=(",", ":"), ensure_ascii=False).encode()
        for c in range(4)
        for n in range(5)
    )
    assert bodies == expected
    assert len({headers["x-client-port"] for _, headers, _ in seen}) == 4  # keep-alive: one port per client
    assert {(h["content-type"], h["x-anything"]) for _, h, _ in seen} == {("application/json", "y")}


def test_chunked_and_long_bodies_arrive_byte_exact(base: str) -> None:
    level, seen = run(lambda c, n: ("GET", f"{base}/chunked" if n % 2 == 0 else f"{base}/big", {}), requests=4)
    assert level.ok == 4 and level.cache == {"none": 4}
    for n, (status, headers, body) in enumerate(seen):
        if n % 2 == 0:
            assert headers["transfer-encoding"] == "chunked" and body == b"".join(PIECES)
        else:
            assert body == BIG
    assert len({headers["content-type"] for _, headers, _ in seen}) == 1


def test_non_200_is_counted_by_status_and_not_as_ok(base: str) -> None:
    level, seen = run(lambda c, n: ("GET", f"{base}/missing", {}), clients=2, requests=3)
    assert (level.ok, level.errors, level.cache, level.latencies) == (0, {"http_404": 6}, {}, [])
    assert seen[0][0] == 404 and seen[0][2] == b'{"detail":"not here"}'


def test_connection_close_reconnects_for_the_next_request(base: str) -> None:
    level, seen = run(lambda c, n: ("GET", f"{base}/close", {}), requests=5)
    assert (level.ok, level.errors) == (5, {})
    assert len({headers["x-client-port"] for _, headers, _ in seen}) == 5


def test_timeout_is_counted_and_the_connection_reopened(base: str) -> None:
    def make(client: int, n: int):
        return "GET", f"{base}/sleep?s={2 if n == 0 else 0}", {}

    level, seen = run(make, requests=3, timeout=0.3)
    assert level.errors == {"Timeout": 1} and level.ok == 2
    assert len(seen) == 2 and seen[0][1]["x-client-port"] == seen[1][1]["x-client-port"]


def test_window_drain_and_unfinished(base: str) -> None:
    after, _ = run(lambda c, n: ("GET", f"{base}/sleep?s=0.4", {}), clients=3, requests=None, window=0.1, drain=2)
    assert (after.ok, after.ok_after_window, after.unfinished, after.latencies) == (0, 3, 0, [])
    cut, _ = run(lambda c, n: ("GET", f"{base}/sleep?s=2", {}), clients=3, requests=None, window=0.1, drain=0.1)
    assert (cut.ok, cut.ok_after_window, cut.unfinished) == (0, 0, 3)


def test_body_delimited_by_close_and_reconnect_after_eof() -> None:
    """A server that frames nothing and just closes (HTTP/1.0 style): body = all bytes up to EOF."""

    async def answer_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nX-Cache: raw\r\n\r\nbody until close")
        await writer.drain()
        writer.close()

    async def scenario():
        server = await asyncio.start_server(answer_and_close, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        seen = []
        async with server:
            level = await raw_closed_loop(
                lambda c, n: ("GET", f"http://127.0.0.1:{port}/", {}),
                2,
                10.0,
                max_requests_per_client=3,
                on_response=lambda *response: seen.append(response),
            )
        return level, seen

    level, seen = asyncio.run(scenario())
    assert (level.ok, level.errors, level.cache) == (6, {}, {"raw": 6})
    assert {body for _, _, body in seen} == {b"body until close"}


def test_refused_connection_is_a_connect_error() -> None:
    level, seen = run(lambda c, n: ("GET", f"http://127.0.0.1:{free_port()}/", {}), requests=2)
    assert (level.ok, level.errors, seen) == (0, {"ConnectError": 2}, [])


def test_counts_match_httpx_closed_loop(base: str) -> None:
    def make(client: int, n: int):
        if n % 3 == 2:
            return "GET", f"{base}/missing", {}
        return "POST", f"{base}/echo", {"json": {"n": n}, "headers": {"X-Anything": "1"}}

    raw = asyncio.run(raw_closed_loop(make, 3, 10.0, max_requests_per_client=6))
    reference = asyncio.run(closed_loop(make, 3, 10.0, max_requests_per_client=6))
    fields = ("ok", "ok_after_window", "errors", "unfinished", "cache")
    assert [getattr(raw, f) for f in fields] == [getattr(reference, f) for f in fields]
    assert raw.ok == 12 and raw.errors == {"http_404": 6}
