"""Who may decide: the pure rule, and a directory that resolves Slack user groups.

Group membership comes from ``usergroups.users.list`` and is cached for a few minutes, so
a click costs no Slack round trip in the common case.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from chatbot.config.rules import Approvers

GroupLookup = Callable[[str], Awaitable[frozenset[str]]]


def may_decide(user_id: str, approvers: Approvers,
               group_members: Mapping[str, frozenset[str]]) -> bool:
    if user_id in approvers.users:
        return True
    return any(user_id in group_members.get(group, frozenset()) for group in approvers.groups)


class ApproverDirectory:
    def __init__(self, *, lookup: GroupLookup | None, ttl_seconds: float = 300.0) -> None:
        self._lookup = lookup
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    async def is_approver(self, user_id: str, approvers: Approvers) -> bool:
        if user_id in approvers.users:
            return True
        members = {group: await self._members(group) for group in approvers.groups}
        return may_decide(user_id, approvers, members)

    async def _members(self, group: str) -> frozenset[str]:
        if self._lookup is None:
            return frozenset()
        cached = self._cache.get(group)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        members = await self._lookup(group)
        self._cache[group] = (time.monotonic(), members)
        return members
