"""The Redis dedup fast path is only a hint: it remembers stored ids, and when Redis is gone
the pipeline still works against the database."""

from __future__ import annotations

import fakeredis
from redis.asyncio import Redis

from chatbot.store.seen_cache import RedisSeenCache


async def test_ids_are_known_only_after_they_are_remembered() -> None:
    cache = RedisSeenCache(fakeredis.FakeAsyncRedis(), ttl_seconds=60)
    assert await cache.known(["a", "b"]) == set()
    await cache.remember(["a"])
    assert await cache.known(["a", "b"]) == {"a"}


async def test_remembered_ids_expire() -> None:
    redis = fakeredis.FakeAsyncRedis()
    await RedisSeenCache(redis, ttl_seconds=60).remember(["a"])
    assert 0 < await redis.ttl("chatbot:seen:a") <= 60


async def test_an_unreachable_redis_means_nothing_is_known() -> None:
    cache = RedisSeenCache(Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    assert await cache.known(["a"]) == set()
    await cache.remember(["a"])  # logged, not raised
