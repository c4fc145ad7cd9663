"""The bench's Redis is a real redis-server that redis.asyncio (the bot's client) can use for
expiring keys and counters, with an emptied logical database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from testbench.redis import RedisServer


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_expiring_keys_and_counters_round_trip(client: redis.asyncio.Redis) -> None:
    assert await client.set("dedup:f-1", "seen", ex=60, nx=True)
    assert not await client.set("dedup:f-1", "again", ex=60, nx=True)
    assert await client.get("dedup:f-1") == b"seen"
    assert 0 < await client.ttl("dedup:f-1") <= 60
    assert await client.incr("count:f-1") == 1
    assert await client.incr("count:f-1") == 2


async def test_the_server_is_a_real_redis(client: redis.asyncio.Redis) -> None:
    server = await client.info("server")
    major = int(str(server["redis_version"]).split(".")[0])
    assert major >= 6


async def test_each_test_gets_an_empty_database(
    redis_server: RedisServer, client: redis.asyncio.Redis
) -> None:
    assert await client.dbsize() == 0
    await client.set("lock:escalation-timer", "replica-1")
    async with redis.asyncio.Redis.from_url(redis_server.fresh_database()) as other:
        assert await other.dbsize() == 0
    assert redis_server.env() == {"CHATBOT_REDIS_URL": redis_server.url}
