"""The flows topic as the consumer reads it: each batch of raw Hubble records goes through the
intake (hubble_intake.py) once, and the consumer's per-record loop then only looks up what
each record came to. Skipped and covered flows are counted here, once the batch is stored —
a batch that fails is read again and must not count twice. No batch is judged before the
coverage index holds its first full listing: until then every flow would look uncovered.

Implements chatbot/pipeline/batch.py's ``BatchReader`` (structurally: this layer sits below
the pipeline).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from chatbot.errors import BadEvent, NoEvent, TemporaryError
from chatbot.events.hubble_outcome import SkipReason
from chatbot.events.model import FlowEvent
from chatbot.metrics import Metrics
from chatbot.sensors.hubble_intake import Bad, HubbleIntake, IntakeBatch

SYNC_WAIT_SECONDS = 5.0

class HubbleRecords:
    def __init__(self, *, intake: HubbleIntake, metrics: Metrics,
                 synced: asyncio.Event | None = None,
                 sync_wait_seconds: float = SYNC_WAIT_SECONDS) -> None:
        self._intake = intake
        self._metrics = metrics
        self._synced = synced
        self._sync_wait = sync_wait_seconds
        self._pending: IntakeBatch | None = None
        for reason in SkipReason:  # every reason on /metrics from the start, at 0
            metrics.hubble_flows_skipped.labels(reason.value)

    async def prepare(self, values: Sequence[bytes]) -> Callable[[bytes], FlowEvent]:
        if not values:  # no new flows in this batch: nothing to wait for
            self._pending = None
            return _no_event
        if self._synced is not None and not self._synced.is_set():
            try:
                await asyncio.wait_for(self._synced.wait(), self._sync_wait)
            except TimeoutError:
                raise TemporaryError("the approved ClientIntents are not read yet (see the "
                                     "coverage log lines); flows wait in Kafka") from None
        batch = await self._intake.read(values)
        self._pending = batch
        # Keyed by the value object itself: two records with equal bytes are still two.
        outcomes = {id(value): outcome
                    for value, outcome in zip(values, batch.outcomes, strict=True)}

        def decode(value: bytes) -> FlowEvent:
            outcome = outcomes.get(id(value))
            if isinstance(outcome, FlowEvent):
                return outcome
            if isinstance(outcome, Bad):
                raise BadEvent(outcome.reason, category=outcome.category)
            raise NoEvent  # skipped, covered, or not among this batch's new records

        return decode

    def settle(self, *, stored: bool) -> None:
        self._intake.settle(stored=stored)
        batch, self._pending = self._pending, None
        if not stored or batch is None:
            return
        for reason, count in batch.skipped.items():
            self._metrics.hubble_flows_skipped.labels(reason.value).inc(count)
        if batch.covered:
            self._metrics.flows_covered.inc(batch.covered)


def _no_event(_value: bytes) -> FlowEvent:
    raise NoEvent
