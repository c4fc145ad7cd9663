"""Stage 6, grouped cards: how many Slack messages a flood makes per distinct flow with
grouping off and on. Each shape (bench/shapes.py) floods a fresh in-process service
(bench/bot.py: real Kafka → consumer → store → outbox → the Slack stand-in, ~1 post/s/channel
enforced) twice, once per rules file; the run waits until every flow is on a message that
shows its latest state, then counts the stand-in's ``chat.postMessage`` calls.

Counts are checked (grouping off: one message per distinct flow; on: at most one per client
workload per window, more only for a workload with more new flows than a card holds; never a
duplicate, never a lost flow, every hostile record dead-lettered); times are only printed."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, or_, select

from bench.bot import Bot, eventually, running_bot
from bench.report import Report, progress
from bench.shapes import Shape, WorkloadKey
from chatbot.card_group import MAX_ROWS
from chatbot.store.models import Anomaly, CardGroup
from testbench.kafka import KafkaBroker
from testbench.slack.calls import RecordedCall

WINDOW = "2m"
WINDOW_SECONDS = 120.0
SEND_CHUNK = 5_000

BotFactory = Callable[[str, str], AbstractAsyncContextManager[Bot]]
"""(rules file text, run name) → a running bot on a fresh database and topic."""


def bots(*, broker: KafkaBroker, workdir: Path, channels: int,
         database_url: Callable[[str], str]) -> BotFactory:
    """Bots for :func:`measure`, each on the database ``database_url(run name)`` gives. No
    apiserver: these floods decide nothing, so intents would go to a directory."""
    def bot_for(rules: str, name: str) -> AbstractAsyncContextManager[Bot]:
        # ERROR: the hostile shape would log a warning per dead letter.
        return running_bot(broker=broker, kube=None, database_url=database_url(name),
                           workdir=workdir, channels=channels, rules=rules, log_level="ERROR")
    return bot_for


@dataclass(frozen=True)
class Outcome:
    """One flood through one bot, as the stand-in and the store saw it."""

    grouping: bool
    messages: int
    """Top-level ``chat.postMessage`` calls Slack accepted."""
    distinct: int
    """Distinct cards or groups among them (by the message metadata)."""
    per_workload: Counter[WorkloadKey]
    """Messages per client workload."""
    strangers: int
    """Messages of neither a flow of the shape nor a stored group (a hostile record's)."""
    flows_stored: int
    events_stored: int
    dead_lettered: int
    updates: int
    limited: int
    """Posts the stand-in answered 429 (the outbox retries them)."""
    span: float
    """Seconds between the first and the last new flow the service stored."""
    seconds: float
    """From the first record sent until every flow was on a message showing its latest
    state (polled every 5 s)."""

    @property
    def duplicates(self) -> int:
        return self.messages - self.distinct


async def flood(bot: Bot, shape: Shape, *, grouping: bool, within: float) -> Outcome:
    """Send the shape's records, wait until every flow is posted and caught up, count."""
    mode = f"grouping {WINDOW}" if grouping else "grouping off"
    progress(f"grouping: {shape.name}, {mode}: {len(shape.records):,} records "
             f"({shape.hostile:,} hostile) over {len(shape.flows):,} flows")
    started = time.monotonic()
    for start in range(0, len(shape.records), SEND_CHUNK):
        await bot.send(shape.records[start:start + SEND_CHUNK])

    async def settled() -> bool:
        state = await _progress(bot)
        progress(f"grouping: {state.events:,}/{shape.events:,} events stored, "
                 f"{state.flows - state.unshown}/{len(shape.flows)} flows on a message, "
                 f"{state.behind} messages behind, {_dead_lettered(bot):,}/{shape.hostile:,} "
                 "dead-lettered")
        return (state.events >= shape.events and state.flows >= len(shape.flows)
                and state.unshown == 0 and state.behind == 0
                and _dead_lettered(bot) >= shape.hostile)

    await eventually(settled, within=within, what=f"{shape.name}, {mode}: every flow posted",
                     every=5.0)
    seconds = time.monotonic() - started
    posts = [c for c in bot.slack.calls("chat.postMessage") if "thread_ts" not in c.params]
    accepted = [c for c in posts if c.ok]
    state = await _progress(bot)
    per_workload, strangers = await _per_workload(bot, shape, accepted)
    return Outcome(
        grouping=grouping, messages=len(accepted),
        distinct=len({_message_id(c) for c in accepted}),
        per_workload=per_workload, strangers=strangers,
        flows_stored=state.flows, events_stored=state.events, dead_lettered=_dead_lettered(bot),
        updates=sum(1 for c in bot.slack.calls("chat.update") if c.ok),
        limited=sum(1 for c in posts if c.status == 429), span=state.span, seconds=seconds)


async def measure(report: Report, shape: Shape, section: str, bot_for: BotFactory, *,
                  within: float = 600.0) -> tuple[Outcome, Outcome]:
    """The shape once with grouping off and once on, each on a bot of its own; the rows."""
    outcomes = []
    for grouping in (False, True):
        rules = shape.rules_yaml(window=WINDOW if grouping else None)
        name = f"grouping_{re.sub('[^a-z0-9]', '', section.lower())}_{'on' if grouping else 'off'}"
        async with bot_for(rules, name) as bot:
            outcomes.append(await flood(bot, shape, grouping=grouping, within=within))
    off, on = outcomes
    _report(report, shape, section, off, on)
    return off, on


def bound(shape: Shape, outcome: Outcome, key: WorkloadKey | None = None) -> int:
    """The most messages grouping may post for ``shape`` (or for its workload ``key``): a
    card per ``MAX_ROWS`` new flows of a workload, in each window the flood's arrival
    spanned."""
    windows = 1 + math.floor(outcome.span / WINDOW_SECONDS)
    if key is None:
        return shape.most_messages() * windows
    return math.ceil(shape.per_workload[key] / MAX_ROWS) * windows


def _report(report: Report, shape: Shape, section: str, off: Outcome, on: Outcome) -> None:
    flows, workloads = len(shape.flows), len(shape.per_workload)
    report.add(section, f"{shape.name}: records sent → valid events / hostile",
               f"{len(shape.records):,} → {shape.events:,} / {shape.hostile:,}")
    report.add(section, "distinct flows / client workloads", f"{flows:,} / {workloads}")
    if shape.hostile:
        report.add(section, "hostile records dead-lettered, grouping off / on",
                   f"{off.dead_lettered:,} / {on.dead_lettered:,}", f"= {shape.hostile:,}",
                   off.dead_lettered == on.dead_lettered == shape.hostile)
    report.add(section, "Slack messages, grouping off (per distinct flow)",
               f"{off.messages:,} ({off.messages / flows:.3f})", f"= {flows:,} (1 per flow)",
               off.messages == flows and dict(off.per_workload) == dict(shape.per_workload))
    over = [key for key, count in on.per_workload.items() if count > bound(shape, on, key)]
    report.add(section, f"Slack messages, grouping {WINDOW} (per distinct flow)",
               f"{on.messages:,} ({on.messages / flows:.3f})",
               f"≤ {bound(shape, on)} (1 per workload per window)",
               workloads <= on.messages <= bound(shape, on) and not over)
    report.add(section, "messages on / off",
               f"{on.messages / max(1, off.messages):.3f} "
               f"({off.messages / max(1, on.messages):.1f}× fewer)")
    report.add(section, "duplicates / lost / strangers / 429s / chat.update, off | on",
               f"{_faults(shape, off)} | {_faults(shape, on)}", "0 / 0 / 0 / - / -",
               all(o.duplicates == o.strangers == 0 and o.flows_stored == flows
                   for o in (off, on)))
    report.add(section, "new flows stored within / all shown after, off | on",
               f"{off.span:.1f} s / {off.seconds:.0f} s | {on.span:.1f} s / {on.seconds:.0f} s")


def _faults(shape: Shape, outcome: Outcome) -> str:
    lost = len(shape.flows) - outcome.flows_stored
    return (f"{outcome.duplicates} / {lost} / {outcome.strangers} / {outcome.limited} / "
            f"{outcome.updates:,}")


@dataclass(frozen=True)
class _Progress:
    flows: int
    events: int
    unshown: int
    """Flows on no posted message: no card of their own and no posted group."""
    behind: int
    """Posted messages (cards or groups) that do not show their flows' latest state yet."""
    span: float


async def _progress(bot: Bot) -> _Progress:
    members = (select(Anomaly.group_id, func.sum(Anomaly.version).label("versions"),
                      func.sum(Anomaly.revision).label("revisions"))
               .where(Anomaly.group_id.is_not(None)).group_by(Anomaly.group_id).subquery())
    # When the service first stored each flow: the time grouping windows are laid on.
    detected = func.coalesce(Anomaly.detected_at, Anomaly.first_seen)
    async with bot.service.sessions() as session:
        flows, events, first, last, cards_behind = (await session.execute(select(
            func.count(), func.coalesce(func.sum(Anomaly.event_count), 0),
            func.min(detected), func.max(detected),
            func.count().filter(Anomaly.slack_ts.is_not(None),
                                Anomaly.message_revision < Anomaly.revision)))).one()
        unshown = await session.scalar(
            select(func.count()).select_from(Anomaly)
            .outerjoin(CardGroup, CardGroup.id == Anomaly.group_id)
            .where(Anomaly.slack_ts.is_(None), CardGroup.slack_ts.is_(None)))
        groups_behind = await session.scalar(
            select(func.count()).select_from(CardGroup)
            .join(members, members.c.group_id == CardGroup.id)
            .where(CardGroup.slack_ts.is_not(None),
                   or_(CardGroup.message_version != members.c.versions,
                       CardGroup.message_revision != members.c.revisions)))
    span = (last - first).total_seconds() if first is not None and last is not None else 0.0
    return _Progress(flows=int(flows), events=int(events), unshown=int(unshown or 0),
                     behind=int(cards_behind) + int(groups_behind or 0), span=span)


async def _per_workload(bot: Bot, shape: Shape,
                        accepted: list[RecordedCall]) -> tuple[Counter[WorkloadKey], int]:
    """Each message's client workload — a card's from its flow, a group's from its row —
    and how many messages belong to neither."""
    async with bot.service.sessions() as session:
        groups = {row.id: (row.cluster, row.client_namespace, row.client_name)
                  for row in (await session.execute(select(
                      CardGroup.id, CardGroup.cluster, CardGroup.client_namespace,
                      CardGroup.client_name))).all()}
    owners = {**shape.flows, **groups}
    found = [owners.get(_message_id(call)) for call in accepted]
    return Counter(key for key in found if key is not None), found.count(None)


def _message_id(call: RecordedCall) -> str:
    """The card's anomaly id or the group's id, from the message metadata."""
    metadata = call.params.get("metadata")
    payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
    found = payload.get("anomaly_id") if isinstance(payload, dict) else None
    return str(found)


def _dead_lettered(bot: Bot) -> int:
    return int(sum(sample.value for metric in bot.service.metrics.registry.collect()
                   if metric.name == "bad_events"
                   for sample in metric.samples if sample.name == "bad_events_total"))


async def run(report: Report, shapes: list[tuple[str, Shape]], bot_for: BotFactory, *,
              within: float = 600.0) -> list[tuple[Outcome, Outcome]]:
    """Every shape, each with grouping off and on."""
    return [await measure(report, shape, section, bot_for, within=within)
            for section, shape in shapes]

