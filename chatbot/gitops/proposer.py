"""The git sink's worker, next to the applier (which it replaces when ``CHATBOT_INTENTS_SINK``
is ``git``): approved flows join the open batch of their repository folder; a batch whose
window closed is pushed as one bot branch and proposed as one pull request; open pull
requests are polled (conditionally) until merged or closed, and rebuilt when the base branch
moved under them. Webhooks from the forge settle a pull request at once (:meth:`observe`).

All of it works from stored state. A batch, with its branch name, is stored before any git
work, so after a crash the same branch is rebuilt and its pull request found, not opened
twice; a merge seen but not recorded is seen again by the next poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.applier import retry_delay
from chatbot.card import Card
from chatbot.chaos import crash_point
from chatbot.clock import Clock
from chatbot.errors import ChatbotError
from chatbot.forge.pull_request import PullRequest, PullRequestState
from chatbot.gitops import body as text
from chatbot.gitops import settle
from chatbot.intents.document import ApprovalNote
from chatbot.intents.git_sink import Approval, GitSink
from chatbot.lifecycle import State
from chatbot.store import anomalies, proposals
from chatbot.store.audit import record
from chatbot.waiting import nap

log = logging.getLogger(__name__)

# A run that died mid-push leaves its claim behind; another (or the restarted one) retries after.
LEASE = timedelta(seconds=30)
BRANCH_PREFIX = "flow-bot/approvals-"


def batch_id(destination: str, opened_at: datetime) -> str:
    """Deterministic for the batch: when it opened, and a digest of where it goes."""
    digest = hashlib.sha256(f"{destination}@{opened_at.isoformat()}".encode()).hexdigest()
    return f"{opened_at:%Y%m%dT%H%M%S%f}Z-{digest[:8]}"


class Proposer:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        sink: GitSink,
        clock: Clock,
        destination: str,
        batch_seconds: float,
        poll_seconds: float,
        on_changed: Callable[[str], None] = lambda _id: None,
    ) -> None:
        self._sessions = sessions
        self._sink = sink
        self._clock = clock
        self._destination = destination
        self._window = timedelta(seconds=batch_seconds)
        self._poll_seconds = poll_seconds
        self._on_changed = on_changed
        self._wake = asyncio.Event()
        self._last_poll: float | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, tick_seconds: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.step()
            except Exception:  # a bug or a DB outage must not end the loop
                log.exception("proposing approvals failed; retrying")
            self._wake.clear()
            await nap(self._wake, stop, seconds=tick_seconds)

    async def step(self, *, poll: bool | None = None) -> None:
        """One pass: batch new approvals, propose due batches, poll when it is time."""
        await self.assign()
        await self.propose_due()
        now = self._clock.monotonic()
        if poll or (poll is None and (self._last_poll is None
                                      or now - self._last_poll >= self._poll_seconds)):
            self._last_poll = now
            await self.track()

    async def assign(self) -> list[str]:
        """Put approved flows no batch carries into the folder's open batch (a new one when
        none is collecting). Returns the batch ids used."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            waiting = await proposals.unbatched(session, limit=200)
            if not waiting:
                return []
            batch = await proposals.collecting(session, destination=self._destination, now=now)
            if batch is None:
                new_id = batch_id(self._destination, now)
                batch = await proposals.start(
                    session, batch_id=new_id, destination=self._destination,
                    branch=f"{BRANCH_PREFIX}{new_id}", opened_at=now, closes_at=now + self._window)
            for anomaly_id, version in waiting:
                if await proposals.join(session, anomaly_id, version=version, batch_id=batch.id):
                    record(session, anomaly_id=anomaly_id, actor="system", action="batch",
                           result="queued", now=now,
                           detail={"branch": batch.branch,
                                   "closes_at": batch.closes_at.isoformat()})
        return [batch.id]

    async def propose_due(self) -> int:
        async with self._sessions() as session:
            due = await proposals.due(session, now=self._clock.now())
        done = 0
        for batch in due:
            async with self._sessions.begin() as session:
                if not await proposals.claim(session, batch.id, seen=batch.next_attempt_at,
                                             until=self._clock.now() + LEASE):
                    continue
            await self._propose(batch)
            done += 1
        return done

    async def track(self) -> None:
        """Poll every open pull request; rebuild one whose base branch moved."""
        async with self._sessions() as session:
            open_batches = await proposals.in_state(session, (proposals.OPEN,))
        for batch in open_batches:
            try:
                await self._track(batch)
            except ChatbotError as error:
                log.warning("checking pull request %s failed: %s", batch.url, error)

    async def observe(self, pr: PullRequest) -> bool:
        """A verified webhook's pull request; True when it is one of the bot's batches."""
        async with self._sessions() as session:
            batch = await proposals.by_pull_request(session, branch=pr.head_branch,
                                                    number=pr.number)
        if batch is None or batch.state not in (proposals.OPEN, proposals.COLLECTING):
            return batch is not None
        if pr.state is not PullRequestState.OPEN and batch.state == proposals.OPEN:
            await self._settle(batch, pr, source="webhook")
        else:
            self.wake()  # e.g. opened before our own record of it: the next pass catches up
        return True

    async def _propose(self, batch: proposals.Batch) -> None:
        async with self._sessions() as session:
            cards = [card for card in await proposals.cards(session, batch.id)
                     if card.state in (State.APPROVED, State.APPLY_FAILED)]
        if not cards:
            async with self._sessions.begin() as session:
                await proposals.change(session, batch.id, now=self._clock.now(),
                                       changes={"state": proposals.CLOSED,
                                                "error": "no approved flow left"})
            return
        try:
            built = await self._sink.push(branch=batch.branch, approvals=_approvals(cards),
                                          message=text.commit_message(cards))
            if not built.changed:
                await self._already_there(batch, cards, built.files)
                return
            pr = await self._sink.open_pull_request(
                branch=batch.branch, title=text.title(cards),
                body=text.body(cards, files=built.files))
        except Exception as error:
            await self._failed(batch, cards, error)
            return
        async with self._sessions.begin() as session:
            if pr.state is PullRequestState.OPEN:
                moved = await settle.opened(session, batch, pr, files=built.files,
                                            clock=self._clock)
            else:  # merged or closed while we were down: record the outcome directly
                await settle.opened(session, batch, pr, files=built.files, clock=self._clock)
                moved = await settle.settled(session, batch, pr, clock=self._clock,
                                             source="lookup")
        log.info("proposed %d approved flow(s) in %s", len(cards), pr.url)
        self._changed(moved or [card.anomaly_id for card in cards])

    async def _track(self, batch: proposals.Batch) -> None:
        assert batch.number is not None and batch.url is not None
        previous = PullRequest(number=batch.number, url=batch.url, state=PullRequestState.OPEN,
                               head_branch=batch.branch, base_branch=self._sink.base_branch,
                               head_sha=batch.head_sha or "", title="", etag=batch.etag)
        polled = await self._sink.poll(number=batch.number, previous=previous)
        pr = polled.pull_request
        if pr.state is not PullRequestState.OPEN:
            await self._settle(batch, pr, source="poll")
            return
        if pr.etag != batch.etag:
            async with self._sessions.begin() as session:
                await proposals.change(session, batch.id, now=self._clock.now(),
                                       changes={"etag": pr.etag, "head_sha": pr.head_sha})
        if await self._sink.base_moved_under(batch.branch):
            await self._rebuild(batch)

    async def _rebuild(self, batch: proposals.Batch) -> None:
        """The base branch moved: merge our targets into the files as they now stand."""
        async with self._sessions() as session:
            cards = [card for card in await proposals.cards(session, batch.id)
                     if card.state is State.PROPOSED]
        if not cards:
            return
        built = await self._sink.push(branch=batch.branch, approvals=_approvals(cards),
                                      message=text.commit_message(cards))
        log.info("the base branch moved under %s; rebuilt it (%s)", batch.branch,
                 "changes kept" if built.changed else "now already in the base")
        now = self._clock.now()
        async with self._sessions.begin() as session:
            for card in cards:
                record(session, anomaly_id=card.anomaly_id, actor="system", action="rebuild",
                       result="pushed" if built.changed else "unchanged", now=now,
                       detail={"pull_request": batch.url, "files": list(built.files)})

    async def _settle(self, batch: proposals.Batch, pr: PullRequest, *, source: str) -> None:
        crash_point("before_settle")
        async with self._sessions.begin() as session:
            moved = await settle.settled(session, batch, pr, clock=self._clock, source=source)
        log.info("pull request %s is %s (seen by %s); %d flow(s) updated", pr.url,
                 pr.state.value, source, len(moved))
        self._changed(moved)

    async def _already_there(self, batch: proposals.Batch, cards: list[Card],
                             files: tuple[str, ...]) -> None:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            await proposals.change(session, batch.id, now=now, changes={
                "state": proposals.MERGED, "error": "already in the base branch"})
            for card in cards:
                if await anomalies.compare_and_set(
                        session, card.anomaly_id, version=card.version,
                        changes={"state": State.APPLIED, "applied_at": now,
                                 "applied_object": ", ".join(files), "apply_error": None}):
                    record(session, anomaly_id=card.anomaly_id, actor="system", action="apply",
                           result="unchanged", now=now,
                           detail={"files": list(files), "branch": self._sink.base_branch})
        self._changed([card.anomaly_id for card in cards])

    async def _failed(self, batch: proposals.Batch, cards: list[Card],
                      error: BaseException) -> None:
        attempts = batch.attempts + 1
        delay = retry_delay(error, attempts)
        message = (str(error) or type(error).__name__)[:1000]
        now = self._clock.now()
        if not isinstance(error, ChatbotError):
            log.exception("proposing batch %s failed", batch.id, exc_info=error)
        log.warning("proposing %s failed (attempt %d, retry in %.0fs): %s", batch.branch,
                    attempts, delay, message)
        async with self._sessions.begin() as session:
            await proposals.change(session, batch.id, now=now, changes={
                "attempts": attempts, "error": message,
                "next_attempt_at": now + timedelta(seconds=delay)})
            for card in cards:
                if await anomalies.compare_and_set(
                        session, card.anomaly_id, version=card.version,
                        changes={"state": State.APPLY_FAILED, "apply_error": message,
                                 "apply_attempts": card.apply_attempts + 1,
                                 "next_apply_at": now + timedelta(seconds=delay)}):
                    record(session, anomaly_id=card.anomaly_id, actor="system",
                           action="propose", result="failed", now=now,
                           detail={"error": message, "attempt": attempts, "retry_in": delay})
        self._changed([card.anomaly_id for card in cards])

    def _changed(self, ids: list[str]) -> None:
        for anomaly_id in ids:
            self._on_changed(anomaly_id)


def _approvals(cards: list[Card]) -> list[Approval]:
    return [Approval(client=card.client, target=card.target,
                     note=ApprovalNote(anomaly_id=card.anomaly_id,
                                       approved_by=card.decided_by or "unknown",
                                       approved_at=card.decided_at or card.last_seen))
            for card in cards]
