"""The Redis fast path for event-id dedup, in front of the database's ``seen_events``.

Only a hint: ids are remembered after the database transaction that stored them commits,
so a crash can make Redis forget (the database still dedups) but never remember an event
that was not stored. When Redis is down the pipeline carries on against the database alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class SeenCache(Protocol):
    async def known(self, event_ids: Sequence[str]) -> set[str]: ...

    async def remember(self, event_ids: Sequence[str]) -> None: ...


class NoSeenCache:
    async def known(self, event_ids: Sequence[str]) -> set[str]:
        return set()

    async def remember(self, event_ids: Sequence[str]) -> None:
        return None


class RedisSeenCache:
    def __init__(self, redis: Redis, *, ttl_seconds: int = 7 * 86400,
                 prefix: str = "chatbot:seen:") -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._prefix = prefix

    async def known(self, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        try:
            values = await self._redis.mget([self._prefix + eid for eid in event_ids])
        except (RedisError, OSError) as error:
            log.warning("redis dedup fast path unavailable, using the database: %s", error)
            return set()
        return {eid for eid, value in zip(event_ids, values, strict=True) if value is not None}

    async def remember(self, event_ids: Sequence[str]) -> None:
        if not event_ids:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for eid in event_ids:
                    pipe.set(self._prefix + eid, b"1", ex=self._ttl)
                await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning("could not remember event ids in redis: %s", error)
