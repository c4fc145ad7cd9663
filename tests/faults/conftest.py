"""Fault stories run ``chatbot serve`` as real processes against the bench, with the Slack
stand-in in a process of its own; ``FaultRun`` holds one story's pieces and the verbs the
stories are told in: stream events, wait until the service caught up, count the result."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes_asyncio.client import ApiClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.store.db import make_engine, make_sessions
from testbench.fault_run import ensure_namespaces, progress, service_env, wait_settled
from testbench.flow_stream import APPROVER, Flow, FlowSet, Stream, flow_set, produce, stream
from testbench.kafka import KafkaBroker
from testbench.service_process import ServiceProcess
from testbench.standin_process import StandinProcess, start_standin
from testbench.tally import Tally, check_approvals, tally
from tests.scenarios.harness import eventually


@dataclass
class FaultRun:
    flows: FlowSet
    standin: StandinProcess
    broker: KafkaBroker
    env: dict[str, str]
    database_url: str
    sessions: async_sessionmaker[AsyncSession]
    workdir: Path
    war_room: bool = False
    services: list[ServiceProcess] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return self.env["CHATBOT_KAFKA_TOPIC"]

    @property
    def channels(self) -> tuple[str, ...]:
        return self.flows.lanes

    def service(self, name: str = "bot") -> ServiceProcess:
        """A replica of the service (not started) that is killed when the story ends."""
        replica = ServiceProcess(name, self.env, log=self.workdir / f"{name}.log")
        self.services.append(replica)
        return replica

    def stream(self, events: int, *, seed: int = 1, new_until: float = 0.7) -> Stream:
        return stream(self.flows, events, seed=seed, run=f"{self.flows.prefix}-{seed}",
                      new_until=new_until)

    def produce(self, events: Stream, *, rate: float | None = None) -> asyncio.Task[None]:
        return asyncio.create_task(produce(self.broker.bootstrap, self.topic, events, rate=rate))

    async def stored(self) -> int:
        return (await progress(self.sessions)).stored

    async def stored_at_least(self, count: int, *, within: float = 60.0) -> None:
        async def enough() -> bool:
            return await self.stored() >= count
        await eventually(enough, within=within, what=f"{count} events stored")

    async def settled(self, events: Stream, *, producing: asyncio.Task[None] | None = None,
                      approved: Iterable[str] = (), within: float = 60.0) -> None:
        if not await wait_settled(self.sessions, events, producing=producing,
                                  approved=approved, within=within):
            result = await self.tally(events)
            raise AssertionError(f"not settled within {within:.0f}s:\n{result.explain()}")

    async def tally(self, events: Stream, *, kube: ApiClient | None = None,
                    approved: dict[str, Flow] | None = None) -> Tally:
        result = await tally(database_url=self.database_url, standin=self.standin,
                             channels=self.channels, expected=events.counts,
                             events_sent=events.sent, war_room=self.war_room)
        if kube is not None:
            await check_approvals(result, database_url=self.database_url, kube=kube,
                                  approved=approved or {})
        return result


FaultRunFactory = Callable[..., AbstractAsyncContextManager[FaultRun]]


@pytest.fixture
def fault_run(kafka_broker: KafkaBroker, tmp_path: Path) -> FaultRunFactory:
    """``async with fault_run(database_url=…, kubeconfig=…, kube=…) as run:`` — flows over
    ``lanes`` namespaces (created in the cluster) and channels, a stand-in, the settings."""

    @asynccontextmanager
    async def open_run(*, database_url: str, kubeconfig: Path, kube: ApiClient,
                       flows: int = 40, lanes: int = 8, escalation: str = "",
                       partitions: int = 3, redis_url: str | None = None,
                       ) -> AsyncIterator[FaultRun]:
        flow_defs = flow_set(f"fault-{uuid.uuid4().hex[:6]}", flows=flows, lanes=lanes)
        await ensure_namespaces(kube, flow_defs.lanes)
        war_room = bool(escalation)
        channels = (*flow_defs.lanes, *(["war-room"] if war_room else []))
        standin = await start_standin(tmp_path, channels=channels, users=[APPROVER])
        rules = tmp_path / "rules.yaml"
        rules.write_text(flow_defs.rules_yaml(war_room=war_room, escalation=escalation))
        engine = make_engine(database_url)
        run = FaultRun(flows=flow_defs, standin=standin, broker=kafka_broker,
                       env=await service_env(broker=kafka_broker, topic=f"{flow_defs.prefix}",
                                             database_url=database_url, kubeconfig=kubeconfig,
                                             standin=standin, rules=rules,
                                             partitions=partitions, redis_url=redis_url),
                       database_url=database_url, sessions=make_sessions(engine),
                       workdir=tmp_path, war_room=war_room)
        try:
            yield run
        finally:
            for replica in run.services:
                if replica.alive():
                    replica.kill()
            await engine.dispose()
            standin.stop()

    return open_run
