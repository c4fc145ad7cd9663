"""Which replica runs the escalation timer: a Redis lease, or the only process there is.

The lease is renewed on every tick and expires by itself if its holder dies, so another
replica takes over within ``ttl``. Escalations are compare-and-set anyway; the lease only
keeps replicas from doing the same scan twice.
"""

from __future__ import annotations

import logging
import secrets
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Renew only our own lease: compare the holder and extend in one atomic step.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class Leader(Protocol):
    async def lead(self) -> bool: ...

    async def resign(self) -> None: ...


class SoleLeader:
    """Without Redis there is one process, and it leads."""

    async def lead(self) -> bool:
        return True

    async def resign(self) -> None:
        return None


class RedisLeader:
    def __init__(self, redis: Redis, *, key: str = "chatbot:escalation-timer",
                 ttl_ms: int = 15_000) -> None:
        self._redis = redis
        self._key = key
        self._ttl_ms = ttl_ms
        self._token = secrets.token_hex(8)

    async def lead(self) -> bool:
        try:
            if await self._redis.set(self._key, self._token, nx=True, px=self._ttl_ms):
                return True
            renewed = await self._redis.eval(_RENEW, 1, self._key, self._token,
                                             str(self._ttl_ms))
            return bool(renewed)
        except (RedisError, OSError) as error:
            log.warning("cannot reach redis for the escalation timer lease: %s", error)
            return False

    async def resign(self) -> None:
        try:
            if await self._redis.get(self._key) == self._token.encode():
                await self._redis.delete(self._key)
        except (RedisError, OSError):
            pass
