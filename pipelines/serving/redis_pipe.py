"""The read API's Redis connection: one pipelined socket for the read script.

Every cache hit is one call of the read script (pipelines/serving/cache.py). redis-py's asyncio
client spent more of the API's CPU on a hit than the answer needed — a connection taken from
and returned to its pool, a retry wrapper and a timeout context per read (docs/performance.md,
"Read API"). Here all requests share one connection: each call is written as soon as it is
made, and since Redis answers a connection's commands in the order it received them, each
reply resolves the oldest waiting call. A call that times out keeps its place in that queue;
its reply, when it comes, is dropped.

Errors: ``TimeoutError`` when the reply takes longer than the timeout (Redis slow or this
loop busy), ``ConnectionError`` when Redis cannot be reached or closes the connection (every
call waiting on it fails with it), ``RedisReplyError`` for an error reply.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque

import hiredis


class RedisReplyError(Exception):
    """Redis answered a call with an error."""


def pack(*args: str | bytes | int) -> bytes:
    """A command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Pipe(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future] = deque()
        self.reader = hiredis.Reader()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            waiter = self.waiting.popleft()
            if waiter.done():  # its caller timed out
                continue
            if isinstance(reply, hiredis.ReplyError):
                waiter.set_exception(RedisReplyError(str(reply)))
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"Redis closed the connection: {exc}"))

    def send(self, command: bytes) -> asyncio.Future:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("not connected to Redis")
        waiter = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        self.transport.write(command)
        return waiter


class ScriptPipe:
    """Calls one Lua script (by its SHA, loaded on first NOSCRIPT) over one connection."""

    def __init__(self, host: str, port: int, db: int, script: str, timeout_s: float):
        self.host, self.port, self.db = host, port, db
        self.script = script.encode()
        self.sha = hashlib.sha1(self.script).hexdigest().encode()
        self.timeout_s = timeout_s
        self._pipe: _Pipe | None = None
        self._connecting: asyncio.Future | None = None

    async def _connected(self) -> _Pipe:
        pipe = self._pipe
        if pipe is not None and pipe.transport is not None and not pipe.transport.is_closing():
            return pipe
        if self._connecting is None:  # one connect at a time; concurrent callers wait for it
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done():
                self._connecting = None

    async def _connect(self) -> _Pipe:
        loop = asyncio.get_running_loop()
        try:
            _transport, pipe = await asyncio.wait_for(
                loop.create_connection(_Pipe, self.host, self.port), self.timeout_s
            )
        except TimeoutError as exc:
            raise ConnectionError(f"no connection to Redis within {self.timeout_s}s") from exc
        if self.db:
            await asyncio.wait_for(pipe.send(pack(b"SELECT", self.db)), self.timeout_s)
        self._pipe = pipe
        return pipe

    async def _call(self, *args: str | bytes | int):
        pipe = await self._connected()
        return await asyncio.wait_for(pipe.send(pack(*args)), self.timeout_s)

    async def run(self, *args: str | bytes | int):
        """The script's reply for ``args`` (passed as ARGV; the script takes no KEYS)."""
        try:
            return await self._call(b"EVALSHA", self.sha, 0, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        # Redis restarted (or flushed its scripts) since the script was loaded.
        await self._call(b"SCRIPT", b"LOAD", self.script)
        return await self._call(b"EVALSHA", self.sha, 0, *args)

    async def ping(self) -> bool:
        return await self._call(b"PING") == b"PONG"

    def close(self) -> None:
        if self._pipe is not None and self._pipe.transport is not None:
            self._pipe.transport.close()
        self._pipe = None
