"""A lean closed-loop load driver: `raw_closed_loop` is `perf_common.closed_loop` without httpx.

Why: httpx.AsyncClient costs ~0.8 ms of client CPU per request, and on a 2-core box the driver
then competes with the server for CPU, so the bench measures itself. This driver speaks just
enough HTTP/1.1 (keep-alive, Content-Length and chunked bodies, http:// on loopback) over an
`asyncio.Protocol`. Client CPU per request (time.process_time / requests) against one tiny
uvicorn server process, 8 clients, 5 s windows, this 2-core box, Python 3.11 default event loop:

    GET small JSON:          httpx 0.85 ms, raw 0.08 ms   (httpx run capped at ~920 req/s by the driver, raw ~5000)
    GET 60 kB body:          httpx 1.00 ms, raw 0.085 ms
    POST JSON (echoed back): httpx 0.93-1.05 ms, raw 0.08 ms

Transport errors are counted by kind: "ConnectError" (connect refused/failed), "RemoteProtocolError"
(server closed mid-response or sent something unparseable), "Timeout" (no full response within
`timeout`; the connection is dropped and reopened for the next request).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from perf_common import Level, Request

OnResponse = Callable[[int, dict[str, str], bytes], None]


class ConnectError(OSError):
    """The TCP connection could not be opened."""


class RemoteProtocolError(ConnectionError):
    """The server closed the connection mid-response or sent a malformed response."""


class Timeout(Exception):
    """No complete response within the per-request timeout."""


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request in flight at a time.

    Parses responses incrementally in `data_received`, so a response costs a few byte searches
    instead of httpx's layers of streams, pools and header objects.
    """

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.open = False
        self.reset()

    def reset(self) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.length: int | None = None  # Content-Length body
        self.chunked = False
        self.pieces: list[bytes] = []  # chunked body so far

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport, self.open = transport, True

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.waiter is not None and not self.waiter.done():
            if self.status is not None and self.length is None and not self.chunked:
                self.finish(bytes(self.buffer))  # body delimited by the close
            else:
                self.waiter.set_exception(RemoteProtocolError("server closed the connection mid-response"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            self.parse()
        except (ValueError, IndexError) as error:
            self.fail(RemoteProtocolError(f"malformed response: {error}"))

    # -- requests

    def send(self, request: bytes) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        self.buffer.clear()
        self.reset()
        self.transport.write(request)
        return self.waiter

    def fail(self, error: Exception) -> None:
        """Give up on this connection (timeout, garbage): the next request opens a new one."""
        self.open = False
        if self.transport is not None:
            self.transport.abort()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    # -- response parsing

    def parse(self) -> None:
        buffer = self.buffer
        if self.status is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = buffer[:end].decode("latin-1").split("\r\n")
            del buffer[: end + 4]
            self.status = int(lines[0].split(" ", 2)[1])
            headers = self.headers
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.chunked = True
            elif "content-length" in headers:
                self.length = int(headers["content-length"])
            elif self.status in (204, 304):
                self.length = 0
            # else: the body runs until the server closes (finished in connection_lost)
        if self.chunked:
            self.parse_chunks()
        elif self.length is not None and len(buffer) >= self.length:
            body = bytes(buffer[: self.length])
            del buffer[: self.length]
            self.finish(body)

    def parse_chunks(self) -> None:
        buffer = self.buffer
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return
            size = int(buffer[:line_end].split(b";", 1)[0], 16)
            if size == 0:  # last chunk, then optional trailers, then an empty line
                if buffer[line_end + 2 : line_end + 4] == b"\r\n":
                    del buffer[: line_end + 4]
                else:
                    end = buffer.find(b"\r\n\r\n", line_end)
                    if end < 0:
                        return
                    del buffer[: end + 4]
                self.finish(b"".join(self.pieces))
                return
            start, stop = line_end + 2, line_end + 2 + size
            if len(buffer) < stop + 2:
                return
            self.pieces.append(bytes(buffer[start:stop]))
            del buffer[: stop + 2]

    def finish(self, body: bytes) -> None:
        if self.headers.get("connection", "").lower() == "close":
            self.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.status, self.headers, body))


def encode_request(method: str, url: str, kwargs: dict) -> tuple[tuple[str, int], bytes]:
    """(host, port) and the request bytes for httpx-style `json=` / `content=` / `headers=`."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"raw_http speaks plain http:// only, not {url}")
    address = (parts.hostname, parts.port or 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    headers = {"host": parts.netloc}
    body = b""
    if kwargs.get("json") is not None:
        body = json.dumps(kwargs["json"], separators=(",", ":"), ensure_ascii=False).encode()
        headers["content-type"] = "application/json"
    elif kwargs.get("content") is not None:
        body = kwargs["content"]
    if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        headers["content-length"] = str(len(body))
    for name, value in (kwargs.get("headers") or {}).items():
        headers[name.lower()] = value
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return address, f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body


async def connect(address: tuple[str, int], timeout: float) -> Connection:
    opening = asyncio.get_running_loop().create_connection(lambda: Connection(address), *address)
    try:
        _, connection = await asyncio.wait_for(opening, timeout)
    except asyncio.TimeoutError as error:
        raise Timeout(f"no connection to {address} in {timeout} s") from error
    except OSError as error:
        raise ConnectError(f"{address}: {error}") from error
    return connection


async def raw_closed_loop(
    make_request: Callable[[int, int], Request],
    clients: int,
    window: float,
    drain: float = 0.0,
    timeout: float = 600.0,
    max_requests_per_client: int | None = None,
    on_response: OnResponse | None = None,
) -> Level:
    """`perf_common.closed_loop` with the same counting, on raw keep-alive connections.

    Each client's first request is made before the clock starts, to open its connection to the
    right host; `make_request` is still called exactly once per request sent. `on_response`, if
    given, sees every HTTP response (status, lower-cased headers, body), 200 or not.
    """
    level = Level(clients, window)
    loop = asyncio.get_running_loop()
    firsts: list[Request | None] = [None] * clients
    connections: list[Connection | None] = [None] * clients
    if max_requests_per_client != 0:
        firsts = [make_request(index, 0) for index in range(clients)]
        addresses = [encode_request(*first)[0] for first in firsts]
        opened = await asyncio.gather(*(connect(a, timeout) for a in addresses), return_exceptions=True)
        connections = [c if isinstance(c, Connection) else None for c in opened]
    started = time.perf_counter()
    window_end = started + window

    async def client(index: int) -> None:
        n = 0
        while time.perf_counter() < window_end:
            if max_requests_per_client is not None and n >= max_requests_per_client:
                return
            method, url, kwargs = firsts[index] if n == 0 else make_request(index, n)
            n += 1
            sent = time.perf_counter()
            address, request = encode_request(method, url, kwargs)
            connection = connections[index]
            timer = None
            try:
                if connection is None or not connection.open or connection.address != address:
                    if connection is not None:
                        connection.close()
                    connection = connections[index] = await connect(address, timeout)
                response = connection.send(request)
                timer = loop.call_later(timeout, connection.fail, Timeout(f"no response in {timeout} s"))
                status, headers, body = await response
            except (OSError, Timeout) as error:  # ConnectError, RemoteProtocolError, Timeout
                level.error(type(error).__name__)  # the connection is closed by now; the next request reopens it
                continue
            finally:
                if timer is not None:
                    timer.cancel()
            done = time.perf_counter()
            if on_response is not None:
                on_response(status, headers, body)
            level.answered(status, headers.get("x-cache", "none"), sent, done, window_end)

    try:
        await level.run(client, drain)
    finally:
        for connection in connections:
            if connection is not None:
                connection.close()
    return level
