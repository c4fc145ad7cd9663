"""The composition root: builds every client from settings, wires the pipeline together and
runs it until asked to stop. Nothing else in the package constructs a client or reads the
environment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from aiohttp import web
from redis.asyncio import Redis
from slack_bolt.async_app import AsyncApp
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chatbot.applier import Applier
from chatbot.approvers import ApproverDirectory
from chatbot.clock import Clock, SystemClock
from chatbot.config.load import load_rules
from chatbot.config.rules import Rules
from chatbot.config.settings import Settings
from chatbot.decisions import Decider
from chatbot.escalation.escalator import Escalator
from chatbot.escalation.leader import RedisLeader, SoleLeader
from chatbot.intents.sink import IntentsSink
from chatbot.intents.wiring import intents_sink
from chatbot.lifecycle import State
from chatbot.metrics import Metrics
from chatbot.pipeline.wiring import KafkaPipeline, kafka_pipeline
from chatbot.review.app import make_review_app
from chatbot.slack.blocks import apply_failure
from chatbot.slack.client import bolt_app, group_lookup, web_client
from chatbot.slack.outbox import SlackOutbox
from chatbot.slack.socket_mode import start_socket_mode
from chatbot.store.db import make_engine, make_sessions
from chatbot.store.ingest import IngestResult
from chatbot.store.migrate import upgrade
from chatbot.store.models import Anomaly
from chatbot.web.server import Probe, Refresh, make_web_app
from handlers import actions

log = logging.getLogger(__name__)

DEFAULT_RULES = Rules(default_channel="flow-alerts")


@dataclass
class Service:
    settings: Settings
    rules: Rules
    clock: Clock
    metrics: Metrics
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    decider: Decider
    applier: Applier
    escalator: Escalator
    outbox: SlackOutbox
    sink: IntentsSink
    web_app: web.Application
    bolt: AsyncApp
    pipeline: KafkaPipeline | None
    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=list)


def rules_from(settings: Settings) -> Rules:
    return load_rules(settings.config_path) if settings.config_path else DEFAULT_RULES


async def build_service(settings: Settings, *, clock: Clock | None = None,
                        with_kafka: bool = True, consumers: int = 1) -> Service:
    clock = clock or SystemClock()
    rules = rules_from(settings)
    metrics = Metrics()
    engine = make_engine(settings.database_url.reveal())
    await upgrade(engine)
    sessions = make_sessions(engine)
    client = web_client(settings.slack)
    bolt = bolt_app(settings.slack, client)
    sink, cluster_ready = await intents_sink(settings)
    outbox = SlackOutbox(sessions=sessions, client=client, clock=clock, rules=rules,
                         on_call=lambda method, outcome: metrics.slack_calls.labels(
                             method, outcome).inc())
    applier = Applier(sessions=sessions, sink=sink, clock=clock,
                      on_changed=lambda _id: outbox.wake(),
                      on_first_failure=lambda card: outbox.note_in_thread(card.anomaly_id,
                                                                          apply_failure(card)),
                      observe_latency=metrics.apply_seconds.observe)

    def decided(_anomaly_id: str, _state: object) -> None:
        outbox.wake()
        applier.wake()

    decider = Decider(sessions=sessions, rules=rules, clock=clock, on_decided=decided,
                      directory=ApproverDirectory(lookup=group_lookup(client)))
    actions.register(bolt, decider=decider)
    redis = Redis.from_url(settings.redis_url.reveal()) if settings.redis_url else None
    escalator = Escalator(sessions=sessions, rules=rules, clock=clock,
                          leader=RedisLeader(redis) if redis else SoleLeader(),
                          on_escalated=lambda _id: outbox.wake())

    def stored(result: IngestResult) -> None:
        escalator.hint([*result.new_anomalies, *result.retried_after_block])
        outbox.wake()

    pipeline = (await kafka_pipeline(settings.kafka, sessions=sessions, rules=rules,
                                     clock=clock, metrics=metrics, on_stored=stored,
                                     consumers=consumers)
                if with_kafka else None)

    async def database_ready() -> bool:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    probes: dict[str, Probe] = {"database": database_ready,
                                "slack": _flag(lambda: outbox.healthy)}
    if pipeline is not None:
        probes["kafka"] = pipeline.ready
    probes["cluster"] = cluster_ready
    web_app = make_web_app(bolt=bolt, metrics=metrics, probes=probes,
                           before_metrics=state_gauge(sessions, metrics))
    return Service(settings=settings, rules=rules, clock=clock, metrics=metrics, engine=engine,
                   sessions=sessions, decider=decider, applier=applier, outbox=outbox,
                   escalator=escalator,
                   sink=sink, web_app=web_app, bolt=bolt, pipeline=pipeline,
                   closers=[sink.close, client.session.close if client.session else _noop,
                            redis.aclose if redis else _noop, engine.dispose])


async def run_service(service: Service, stop: asyncio.Event) -> None:
    """Serve HTTP and run the consumer, outbox and applier until ``stop`` is set."""
    settings = service.settings
    async with AsyncExitStack() as stack:
        runner = web.AppRunner(service.web_app, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        log.info("listening on %s:%s", settings.http_host, settings.http_port)
        if settings.dashboard_port is not None:
            await _serve_dashboard(service, stack)
        socket_mode = (await start_socket_mode(service.bolt, settings.slack.app_token.reveal())
                       if settings.slack.app_token else None)
        tasks = [asyncio.create_task(service.outbox.run(stop), name="outbox"),
                 asyncio.create_task(service.applier.run(stop), name="applier"),
                 asyncio.create_task(service.escalator.run(stop), name="escalator")]
        if service.pipeline is not None:
            tasks.append(asyncio.create_task(service.pipeline.run(stop), name="consumer"))
        try:
            await stop.wait()
        finally:
            if socket_mode is not None:  # no new clicks while the rest shuts down
                await socket_mode.close()
            await asyncio.gather(*tasks, return_exceptions=True)
            for close in service.closers:
                await close()


async def _serve_dashboard(service: Service, stack: AsyncExitStack) -> None:
    """The review page, read-only, on its own port (loopback unless configured otherwise)."""
    settings = service.settings
    assert settings.dashboard_port is not None
    app = make_review_app(sessions=service.sessions, decider=service.decider,
                          intents_dir=settings.intents_directory, user_id="dashboard",
                          read_only=True, extra_hosts=settings.dashboard_hosts)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, settings.dashboard_host, settings.dashboard_port).start()
    log.info("read-only dashboard on http://%s:%s/", settings.dashboard_host,
             settings.dashboard_port)


def state_gauge(sessions: async_sessionmaker[AsyncSession], metrics: Metrics) -> Refresh:
    """Counts anomalies by state when /metrics is scraped (one GROUP BY, no background loop)."""

    async def refresh() -> None:
        async with sessions() as session:
            rows = await session.execute(
                select(Anomaly.state, func.count()).group_by(Anomaly.state))
            counts: dict[str, int] = {state: count for state, count in rows}
        for state in State:
            metrics.anomalies.labels(state.value).set(counts.get(state.value, 0))

    return refresh


def _flag(read: Callable[[], bool]) -> Probe:
    async def probe() -> bool:
        return read()

    return probe


async def _noop() -> None:
    return None
