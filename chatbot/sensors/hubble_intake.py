"""A batch of raw Hubble records (one Kafka poll) -> what each record comes to: an uncovered
FlowEvent for the store, a covered flow to count, a skip to count, or a bad record for the
dead-letter topic. The composition of the Hubble pieces, in their order:

    map (events/hubble.py)
      -> owners of pod-only endpoints, one apiserver round for the batch (cluster/owners.py)
      -> one connection, one event (hubble_dedup.py) -> coverage (intents/coverage.py)

The result is aligned with the input, so the consumer keeps its offsets and the dead-letter
records their positions. A TemporaryError from the owner lookup fails the whole batch (the
consumer retries it); nothing else raises. After each read, :meth:`HubbleIntake.settle` says
whether the batch was stored: if not, the connections it saw are forgotten, so the batch read
again is judged as the first time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chatbot.errors import BadEvent
from chatbot.events.hubble import HubbleOptions, Mapped, map_record
from chatbot.events.hubble_dedup import ConnectionDedup
from chatbot.events.hubble_outcome import NeedsOwners, Owner, PodRef, Skip, SkipReason
from chatbot.events.model import FlowEvent
from chatbot.intents.coverage import CoverageIndex, IntentRef


class OwnerLookup(Protocol):
    async def owners(self, pods: Iterable[PodRef]) -> Mapping[PodRef, Owner]: ...


@dataclass(frozen=True, slots=True)
class Covered:
    event: FlowEvent
    by: IntentRef


@dataclass(frozen=True, slots=True)
class Bad:
    reason: str
    category: str = "invalid_value"
    """The ``bad_events_total`` label (chatbot/events/problem.py)."""


Intake = FlowEvent | Covered | Skip | Bad


@dataclass
class IntakeBatch:
    outcomes: list[Intake]
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    """Per reason, for ``hubble_flows_skipped_total{reason}``."""
    covered: int = 0
    bad: int = 0

    @property
    def events(self) -> list[FlowEvent]:
        return [outcome for outcome in self.outcomes if isinstance(outcome, FlowEvent)]


class HubbleIntake:
    def __init__(self, *, options: HubbleOptions, dedup: ConnectionDedup, owners: OwnerLookup,
                 coverage: CoverageIndex) -> None:
        self._options = options
        self._dedup = dedup
        self._owners = owners
        self._coverage = coverage

    async def read(self, records: Sequence[bytes]) -> IntakeBatch:
        mapped: list[Mapped | Bad] = []
        for raw in records:
            try:
                mapped.append(map_record(raw, options=self._options))
            except BadEvent as error:
                mapped.append(Bad(error.reason, error.category))
        pods = [pod for each in mapped
                if isinstance(each, Mapped) and isinstance(each.outcome, NeedsOwners)
                for pod in each.outcome.pods()]
        owners = await self._owners.owners(pods) if pods else {}
        batch = IntakeBatch(outcomes=[])
        for each in mapped:
            batch.outcomes.append(self._judged(self._seen(each, owners), batch))
        return batch

    def _seen(self, mapped: Mapped | Bad, owners: Mapping[PodRef, Owner]
              ) -> FlowEvent | Skip | Bad:
        """The record's event, once its owners are known and only at the connection's first
        sighting. A sighting whose pod was already gone is not remembered: the next one,
        which may name the workload, still counts."""
        if isinstance(mapped, Bad):
            return mapped
        outcome = mapped.outcome
        done = outcome.complete(owners) if isinstance(outcome, NeedsOwners) else outcome
        if isinstance(done, Skip) or mapped.connection is None:
            return done
        if not self._dedup.first_sighting(mapped.connection, done.observed_at, done.reason):
            return Skip(SkipReason.DUPLICATE)
        return done

    def settle(self, *, stored: bool) -> None:
        """The batch last read was stored (its sightings stay) or not (they are forgotten)."""
        if stored:
            self._dedup.commit()
        else:
            self._dedup.rollback()

    def _judged(self, outcome: FlowEvent | Skip | Bad, batch: IntakeBatch) -> Intake:
        if isinstance(outcome, Skip):
            batch.skipped[outcome.reason] += 1
            return outcome
        if isinstance(outcome, Bad):
            batch.bad += 1
            return outcome
        ref = self._coverage.covering(outcome)
        if ref is None:
            return outcome
        batch.covered += 1
        return Covered(outcome, ref)
