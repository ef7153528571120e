"""A minimal asyncio HTTP/1.1 client on keep-alive connections, for benchmarks whose clients
share the CPU with the server they measure.

httpx costs the calling process about a millisecond of Python per request, and its connection
pool's bookkeeping grows with the number of requests in flight: 50 coroutines of one process
firing at once measure mostly the client (lock-step polls of a trivial ASGI app: p95 ~500 ms
with httpx, ~5 ms with this). `RawHttp.request` takes the same arguments as
`httpx.AsyncClient.request` for what the benchmarks send (`params`, `json`) and answers an
object with `status_code`, `headers`, `content`, `json()` and `raise_for_status()`.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

IDLE_EXPIRY = 2.0  # seconds: drop an idle connection before uvicorn does (5 s)


class RawHttpError(Exception):
    pass


@dataclass
class RawResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes
    url: str

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RawHttpError(f"{self.status_code} for {self.url}: {self.content[:200]!r}")


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float


class RawHttp:
    """One keep-alive connection per request in flight, reused in turn."""

    def __init__(self, host: str, port: int, *, timeout: float = 600) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._idle: list[_Connection] = []
        self.reconnects = 0  # reused connections the server had closed (the request sent again)

    async def close(self) -> None:
        for connection in self._idle:
            connection.writer.close()
        self._idle.clear()

    async def _connection(self) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < IDLE_EXPIRY and not connection.reader.at_eof():
                return connection, True
            connection.writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer, now), False

    async def request(
        self, method: str, url: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> RawResponse:
        target = url + ("?" + urlencode(params) if params else "")
        head = f"{method} {target} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
        body = b""
        if json is not None:
            body = jsonlib.dumps(json).encode()
            head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        message = (head + "\r\n").encode() + body
        for _ in range(3):
            connection, reused = await self._connection()
            try:
                response = await asyncio.wait_for(self._exchange(connection, message, target), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                connection.writer.close()
                # a reused connection the server closed before reading the request: send it again
                # on a new one (nothing was read, so nothing can happen twice)
                if not reused or (isinstance(error, asyncio.IncompleteReadError) and error.partial):
                    raise
                self.reconnects += 1
                continue
            if response.headers.get("connection", "").lower() == "close":
                connection.writer.close()
            else:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            return response
        raise RawHttpError(f"{method} {target}: the server closed three connections in a row")

    async def _exchange(self, connection: _Connection, message: bytes, target: str) -> RawResponse:
        connection.writer.write(message)
        await connection.writer.drain()
        reader = connection.reader
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")  # the (empty) trailer
            content = b"".join(parts)
        else:
            content = b""
        return RawResponse(status, headers, content, target)
