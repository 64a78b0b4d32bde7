"""The read API's pipelined Redis connection (pipelines/serving/redis_pipe.py) against a real
redis-server: many calls in flight on one socket each get their own reply, a call that times
out does not shift the replies of the calls after it, a flushed script is loaded again, and a
closed or refused connection fails clearly and is reopened on the next call."""

from __future__ import annotations

import asyncio

import pytest

from pipelines.services.redis_server import client as redis_client
from pipelines.serving.redis_pipe import RedisReplyError, ScriptPipe
from tests.helpers import free_port

pytestmark = pytest.mark.integration

ECHO = "return {ARGV[1], redis.call('INCR', KEYS[1] or 'pipe-test:calls')}"
FAIL = "return redis.error_reply('boom ' .. ARGV[1])"


def _pipe(conf, script: str = ECHO, timeout_s: float = 2.0) -> ScriptPipe:
    return ScriptPipe(str(conf.get("redis.host")), int(conf.get("redis.port")),
                      int(conf.get("redis.db")), script, timeout_s)


def test_concurrent_calls_each_get_their_own_reply(redis_conf):
    async def main():
        pipe = _pipe(redis_conf)
        try:
            return await asyncio.gather(*(pipe.run(f"caller-{i}") for i in range(300)))
        finally:
            pipe.close()

    replies = asyncio.run(main())
    assert [r[0] for r in replies] == [f"caller-{i}".encode() for i in range(300)]
    assert len({r[1] for r in replies}) == 300  # each call ran the script once


def test_a_timed_out_call_does_not_shift_the_replies_after_it(redis_conf):
    admin = redis_client(redis_conf)

    async def main():
        pipe = _pipe(redis_conf, timeout_s=0.2)
        try:
            await pipe.run("warm")  # connected and the script loaded
            admin.execute_command("CLIENT", "PAUSE", 600, "ALL")  # Redis holds every command
            with pytest.raises(TimeoutError):
                await pipe.run("late")
            await asyncio.sleep(0.6)  # the pause ends; the late reply arrives and is dropped
            return [await pipe.run(f"after-{i}") for i in range(3)]
        finally:
            pipe.close()

    after = asyncio.run(main())
    assert [r[0] for r in after] == [b"after-0", b"after-1", b"after-2"]


def test_a_flushed_script_is_loaded_again(redis_conf):
    admin = redis_client(redis_conf)

    async def main():
        pipe = _pipe(redis_conf)
        try:
            first = await pipe.run("one")
            admin.script_flush()
            return first, await pipe.run("two")
        finally:
            pipe.close()

    first, second = asyncio.run(main())
    assert first[0] == b"one" and second[0] == b"two"


def test_an_error_reply_is_raised_as_such(redis_conf):
    async def main():
        pipe = _pipe(redis_conf, FAIL)
        try:
            with pytest.raises(RedisReplyError, match="boom x"):
                await pipe.run("x")
            assert await pipe.ping()  # the connection is still usable
        finally:
            pipe.close()

    asyncio.run(main())


def test_a_closed_connection_is_reopened_and_a_refused_one_fails(redis_conf):
    admin = redis_client(redis_conf)

    async def main():
        pipe = _pipe(redis_conf)
        try:
            await pipe.run("before")
            killed = admin.client_kill_filter(_type="normal", skipme=True)
            assert killed >= 1
            await asyncio.sleep(0.1)  # the close reaches the pipe
            return await pipe.run("after")
        finally:
            pipe.close()

    assert asyncio.run(main())[0] == b"after"

    async def refused():
        pipe = ScriptPipe("127.0.0.1", free_port(), 0, ECHO, 2.0)
        with pytest.raises(ConnectionError):
            await pipe.run("x")

    asyncio.run(refused())
