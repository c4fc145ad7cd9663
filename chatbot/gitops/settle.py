"""Recording what a batch's pull request became, in one transaction per batch: opened →
its flows are ``proposed``; merged → ``applied``; closed unmerged → back to ``pending`` with
the decision cleared, the card saying why, and the audit log saying who closed what.

Every step is a compare-and-set from the state it expects (``lifecycle.proposal_step``), so a
webhook and a poll reporting the same merge, or a restart replaying one, record it once.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from chatbot.clock import Clock
from chatbot.forge.pull_request import PullRequest, PullRequestState
from chatbot.lifecycle import State, proposal_step
from chatbot.store import anomalies, proposals
from chatbot.store.anomalies import Changes
from chatbot.store.audit import record

ACTOR = "forge"


async def opened(session: AsyncSession, batch: proposals.Batch, pr: PullRequest, *,
                 files: tuple[str, ...], clock: Clock) -> list[str]:
    """The batch's pull request is open: its flows become ``proposed``. Returns their ids."""
    now = clock.now()
    await proposals.change(session, batch.id, now=now, changes={
        "state": proposals.OPEN, "number": pr.number, "url": pr.url, "head_sha": pr.head_sha,
        "etag": pr.etag, "error": None, "next_attempt_at": None})
    moved: list[str] = []
    for card in await proposals.cards(session, batch.id):
        after = proposal_step(card.state, "proposed")
        if after is None:
            continue
        changes: Changes = {"state": after, "proposal_url": pr.url, "apply_error": None,
                            "next_apply_at": None}
        if await anomalies.compare_and_set(session, card.anomaly_id, version=card.version,
                                           changes=changes):
            record(session, anomaly_id=card.anomaly_id, actor="system", action="propose",
                   result="proposed", now=now,
                   detail={"pull_request": pr.url, "branch": batch.branch, "files": list(files)})
            moved.append(card.anomaly_id)
    return moved


async def settled(session: AsyncSession, batch: proposals.Batch, pr: PullRequest, *,
                  clock: Clock, source: str) -> list[str]:
    """The pull request was merged or closed (``source``: poll or webhook); returns the ids
    of the flows that moved."""
    if pr.state is PullRequestState.OPEN:
        return []
    now = clock.now()
    merged = pr.state is PullRequestState.MERGED
    await proposals.change(session, batch.id, now=now, changes={
        "state": proposals.MERGED if merged else proposals.CLOSED, "number": pr.number,
        "url": pr.url, "head_sha": pr.head_sha, "next_attempt_at": None})
    moved: list[str] = []
    for card in await proposals.cards(session, batch.id):
        after = proposal_step(card.state, "merged" if merged else "closed")
        if after is None:
            continue
        if merged:
            changes: Changes = {"state": State.APPLIED, "applied_at": now,
                                "applied_object": pr.url, "apply_error": None}
        else:
            changes = {"state": State.PENDING, "decision": None, "decided_by": None,
                       "decided_at": None, "approvals": [], "proposal_id": None,
                       "proposal_note": (f"Pull request #{pr.number} was closed without "
                                         "merging: nothing was applied, decide again.")}
        if await anomalies.compare_and_set(session, card.anomaly_id, version=card.version,
                                           changes=changes):
            record(session, anomaly_id=card.anomaly_id, actor=ACTOR,
                   action="merge" if merged else "close",
                   result="applied" if merged else "reopened", now=now,
                   detail={"pull_request": pr.url, "merge_commit": pr.merge_commit_sha,
                           "seen_by": source})
            moved.append(card.anomaly_id)
    return moved
