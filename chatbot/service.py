"""The composition root: builds every client from settings, wires the pipeline together,
supervises it while it runs and closes everything it opened — also when building fails half
way. Nothing else in the package constructs a client or reads the environment.

    async with open_service(settings) as service:
        await service.run(stop)      # raises TaskDied when a background task dies

Building does no I/O. Running listens first — so ``/readyz`` can say what is missing — then
waits for what is late, each with a capped backoff and a log line per retry: the database
(the schema upgrade) before the loops that use it, the Slack token (``auth.test``) before
the outbox posts, Kafka inside the consumer task. ``/readyz`` is false with the reason until
the database and Slack answer; Kafka is reported there too but never gates readiness, so a
Kafka outage does not take the pod out of the Service while clicks can still be decided.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace

from aiohttp import web
from redis.asyncio import Redis
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import handlers
from chatbot.applier import Applier
from chatbot.approvers import ApproverDirectory
from chatbot.auto_decisions import AutoDecider
from chatbot.bulk import BulkDecider
from chatbot.clock import Clock, SystemClock
from chatbot.config.load import load_rules
from chatbot.config.rules import Rules
from chatbot.config.settings import Settings
from chatbot.coverage_resolver import CoverageResolver
from chatbot.decision_rules import refuse_risky_auto_approvals
from chatbot.decisions import Decider
from chatbot.dependency import Dependency, NotReady, until_up
from chatbot.errors import ConfigError, TemporaryError
from chatbot.escalation.escalator import Escalator
from chatbot.escalation.leader import RedisLeader, SoleLeader
from chatbot.gitops.proposer import Proposer
from chatbot.intents.current import CurrentIntents, IntentsReader
from chatbot.intents.git_sink import GitSink
from chatbot.intents.git_wiring import git_sink
from chatbot.intents.sink import IntentsSink
from chatbot.intents.wiring import intents_sink
from chatbot.lifecycle import State
from chatbot.metrics import Metrics
from chatbot.pipeline.wiring import KafkaPipeline, kafka_pipeline
from chatbot.queue import PendingQueue
from chatbot.review.app import make_review_app
from chatbot.sensors.wiring import Sensing, open_sensing
from chatbot.slack.blocks import apply_failure
from chatbot.slack.client import bolt_app, group_lookup, web_client
from chatbot.slack.digest import DecisionDigest
from chatbot.slack.home import HomeTab
from chatbot.slack.outbox import SlackOutbox
from chatbot.slack.socket_mode import start_socket_mode
from chatbot.snooze import Snoozer
from chatbot.store import anomalies
from chatbot.store.db import make_engine, make_sessions
from chatbot.store.ingest import IngestResult
from chatbot.store.migrate import upgrade
from chatbot.supervisor import Supervisor, until_stopped
from chatbot.unreachable import database_problem, slack_problem
from chatbot.waiting import nap
from chatbot.web.forge_hook import Handler, forge_webhook
from chatbot.web.server import Probe, Refresh, make_web_app

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
    applier: Applier | Proposer
    """The git sink's proposer stands in for the applier (same wake/run)."""
    escalator: Escalator
    auto_decider: AutoDecider | None
    digest: DecisionDigest | None
    outbox: SlackOutbox
    slack_client: AsyncWebClient
    sink: IntentsSink | GitSink
    bolt: AsyncApp
    pipeline: KafkaPipeline | None
    sensing: Sensing
    resolver: CoverageResolver | None
    """Resolves waiting cards that approved intents written by others now cover."""
    probes: dict[str, Probe]
    advisory: dict[str, Probe]
    database: Dependency
    slack: Dependency

    async def run(self, stop: asyncio.Event) -> None:
        """Serve HTTP and run the consumer, outbox, applier and escalator until ``stop`` is
        set — or until one of them dies, which stops the rest and raises ``TaskDied``."""
        settings = self.settings
        supervisor = Supervisor(stop)
        web_app = make_web_app(bolt=self.bolt, metrics=self.metrics, probes=self.probes,
                               advisory=self.advisory, alive=lambda: supervisor.alive,
                               before_metrics=state_gauge(self.sessions, self.metrics),
                               forge_webhook=self._forge_webhook())
        async with AsyncExitStack() as stack:
            try:
                await _listen(stack, web_app, settings.http_host, settings.http_port)
                log.info("listening on %s:%s", settings.http_host, settings.http_port)
                if settings.dashboard_port is not None:
                    await self._serve_dashboard(stack)
                schema = asyncio.Event()
                supervisor.start("outbox", self._slack_side(stack, schema, stop))
                if self.sensing.follow is not None:
                    supervisor.start("coverage", until_stopped(self.sensing.follow, stop))
                if await self._schema_upgraded(stop):
                    schema.set()
                    supervisor.start("applier", self.applier.run(stop))
                    supervisor.start("escalator", self.escalator.run(stop))
                    if self.resolver is not None:
                        supervisor.start("covered-elsewhere", self.resolver.run(stop))
                    if self.auto_decider is not None and self.digest is not None:
                        supervisor.start("auto-decisions", self.auto_decider.run(stop))
                        supervisor.start("digest", self.digest.run(stop))
                    if self.pipeline is not None:
                        supervisor.start("consumer", self.pipeline.run(stop))
                await stop.wait()
            finally:
                stop.set()
                await stack.aclose()
                await supervisor.join()

    async def _schema_upgraded(self, stop: asyncio.Event) -> bool:
        """Bring the schema to the newest version, waiting for a database that is not up
        yet; False if the service is stopped first."""
        url = self.settings.database_url.reveal()

        async def upgraded() -> bool:
            await upgrade(self.engine)
            return True

        return bool(await until_up(self.database, upgraded, stop=stop, log=log,
                                   describe=lambda error: database_problem(url, error)))

    async def _slack_side(self, stack: AsyncExitStack, schema: asyncio.Event,
                          stop: asyncio.Event) -> None:
        """Verify the bot token (``/readyz`` says why until Slack accepts it), open Socket
        Mode when configured, and post from the outbox once the schema is there."""
        slack = self.settings.slack
        api_url = slack.api_url

        async def token_works() -> bool:
            answer = await self.slack_client.auth_test()
            log.info("Slack accepts the bot token (bot %s in %s)", answer.get("user"),
                     answer.get("team"))
            return True

        if not await until_up(self.slack, token_works, stop=stop, log=log,
                              describe=lambda error: slack_problem(api_url, error),
                              last_step=not slack.app_token):
            return
        if slack.app_token:
            app_token = slack.app_token.reveal()
            socket_mode = await until_up(
                self.slack, lambda: start_socket_mode(self.bolt, app_token), stop=stop,
                log=log, describe=_socket_mode_problem)
            if socket_mode is None:
                return
            # Closed first on the way out: no new clicks while the rest shuts down.
            stack.push_async_callback(socket_mode.close)
        while not schema.is_set() and not stop.is_set():
            await nap(schema, stop, seconds=60.0)
        if not stop.is_set():
            await self.outbox.run(stop)

    def _forge_webhook(self) -> Handler | None:
        git = self.settings.git
        if git is None or not git.webhook_secret or not isinstance(self.applier, Proposer):
            return None
        return forge_webhook(forge=git.forge, secret=git.webhook_secret.reveal(),
                             observe=self.applier.observe)

    async def _serve_dashboard(self, stack: AsyncExitStack) -> None:
        """The review page, read-only, on its own port (loopback unless configured otherwise)."""
        settings = self.settings
        assert settings.dashboard_port is not None
        app = make_review_app(sessions=self.sessions, decider=self.decider,
                              intents_dir=settings.intents_directory, user_id="dashboard",
                              read_only=True, extra_hosts=settings.dashboard_hosts)
        await _listen(stack, app, settings.dashboard_host, settings.dashboard_port)
        log.info("read-only dashboard on http://%s:%s/", settings.dashboard_host,
                 settings.dashboard_port)


def rules_from(settings: Settings) -> Rules:
    rules = load_rules(settings.config_path) if settings.config_path else DEFAULT_RULES
    refuse_risky_auto_approvals(rules)  # serve refuses what check-config refuses
    # The cards say what Approve opens in the output actually written.
    return replace(rules, enforcement=replace(rules.enforcement,
                                              format=settings.intents_format))


@asynccontextmanager
async def open_service(settings: Settings, *, rules: Rules | None = None,
                       clock: Clock | None = None, with_kafka: bool = True,
                       consumers: int = 1) -> AsyncIterator[Service]:
    """Build the service (``rules`` when already loaded, else from the settings); everything
    opened so far is closed on the way out, whether the block ends, raises, or building
    itself fails half way. ``consumers``: members of the consumer group to run, this
    process's loop and ``consumers - 1`` processes (chatbot/pipeline/members.py)."""
    clock = clock or SystemClock()
    rules = rules or rules_from(settings)
    metrics = Metrics()
    async with AsyncExitStack() as stack:
        engine = make_engine(settings.database_url.reveal())
        stack.push_async_callback(engine.dispose)
        sessions = make_sessions(engine)
        client = web_client(settings.slack, on_call=lambda method, outcome: metrics.slack_calls
                            .labels(method, outcome).inc())
        if client.session is not None:
            stack.push_async_callback(client.session.close)
        bolt = bolt_app(settings.slack, client)
        sink: IntentsSink | GitSink
        if settings.git is not None:
            sink, cluster_ready, close_sink = await git_sink(settings)
            stack.push_async_callback(close_sink)
        else:
            sink, cluster_ready = await intents_sink(settings)
            stack.push_async_callback(sink.close)
        redis = Redis.from_url(settings.redis_url.reveal()) if settings.redis_url else None
        if redis is not None:
            stack.push_async_callback(redis.aclose)

        current = CurrentIntents(read=sink.read) if isinstance(sink, IntentsReader) else None
        outbox = SlackOutbox(sessions=sessions, client=client, clock=clock, rules=rules,
                             current_intents=current.targets if current else None)
        applier: Applier | Proposer
        if isinstance(sink, GitSink):
            assert settings.git is not None
            applier = Proposer(sessions=sessions, sink=sink, clock=clock,
                               destination=settings.git.destination,
                               batch_seconds=settings.git.batch_seconds,
                               poll_seconds=settings.git.poll_seconds,
                               on_changed=lambda _id: outbox.wake())
        else:
            applier = Applier(sessions=sessions, sink=sink, clock=clock,
                              on_changed=lambda _id: outbox.wake(),
                              on_written=current.forget if current else lambda _client: None,
                              on_first_failure=lambda card: outbox.note_in_thread(
                                  card.anomaly_id, apply_failure(card)),
                              observe_latency=metrics.apply_seconds.observe)

        directory = ApproverDirectory(lookup=group_lookup(client))
        queue = PendingQueue(sessions=sessions, rules=rules, directory=directory)
        home_tab = HomeTab(client=client, queue=queue)

        def decided(_anomaly_id: str, _state: object) -> None:
            outbox.wake()
            applier.wake()
            home_tab.refresh()

        def snoozed(_anomaly_id: str) -> None:
            outbox.wake()
            home_tab.refresh()

        decider = Decider(sessions=sessions, rules=rules, clock=clock, on_decided=decided,
                          directory=directory)
        snoozer = Snoozer(sessions=sessions, rules=rules, directory=directory, clock=clock,
                          on_snoozed=snoozed)
        handlers.register(bolt, decider=decider, queue=queue, snoozer=snoozer,
                          home_tab=home_tab,
                          bulk=BulkDecider(sessions=sessions, rules=rules, decider=decider))
        escalator = Escalator(sessions=sessions, rules=rules, clock=clock,
                              leader=RedisLeader(redis) if redis else SoleLeader(),
                              on_escalated=lambda _id: outbox.wake())

        auto_decider, digest = None, None
        if rules.decisions:  # without decision rules no card waits for a rule check
            def checked(_anomaly_id: str, state: State | None) -> None:
                outbox.wake()
                home_tab.refresh()
                if state is State.APPROVED:
                    applier.wake()

            auto_decider = AutoDecider(sessions=sessions, rules=rules, clock=clock,
                                       on_checked=checked)
            digest = DecisionDigest(sessions=sessions, client=client, clock=clock,
                                    every_seconds=rules.digest_seconds)

        def stored(result: IngestResult) -> None:
            escalator.hint([*result.new_anomalies, *result.retried_after_block,
                            *result.reopened])
            if auto_decider is not None:
                auto_decider.hint(result.new_anomalies)
            if resolver is not None and result.new_anomalies:
                resolver.wake()  # a schema-v1 event may name a flow already approved
            outbox.wake()
            if result.new_anomalies:
                home_tab.refresh()

        resolver: CoverageResolver | None = None

        def intents_changed() -> None:
            if resolver is not None:
                resolver.wake()

        def resolved(_anomaly_id: str) -> None:
            outbox.wake()
            home_tab.refresh()

        sensing = await open_sensing(settings, metrics=metrics, stack=stack,
                                     on_change=intents_changed)
        if sensing.coverage is not None:
            resolver = CoverageResolver(sessions=sessions, index=sensing.coverage, clock=clock,
                                        on_resolved=resolved)
        pipeline = (await kafka_pipeline(settings.kafka, sessions=sessions, rules=rules,
                                         clock=clock, metrics=metrics, on_stored=stored,
                                         consumers=consumers, flows=sensing.flows)
                    if with_kafka else None)

        database = Dependency("database", waiting="upgrading the schema")
        slack = Dependency("slack", waiting="connecting to Slack")
        url = settings.database_url.reveal()

        async def database_ready() -> bool:
            await database.probe()
            try:
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
            except Exception as error:
                raise NotReady(database_problem(url, error) or repr(error)) from error
            return True

        async def slack_ready() -> bool:
            await slack.probe()
            if not outbox.healthy:
                raise NotReady(f"the last call to Slack at {settings.slack.api_url} did not "
                               "get through")
            return True

        probes: dict[str, Probe] = {"database": database_ready, "slack": slack_ready,
                                    "cluster": cluster_ready}
        advisory: dict[str, Probe] = {} if pipeline is None else {"kafka": pipeline.ready}
        if sensing.synced is not None:
            advisory["coverage"] = sensing.ready
        yield Service(settings=settings, rules=rules, clock=clock, metrics=metrics,
                      engine=engine, sessions=sessions, decider=decider, applier=applier,
                      escalator=escalator, auto_decider=auto_decider, digest=digest,
                      outbox=outbox, slack_client=client, sink=sink, bolt=bolt,
                      pipeline=pipeline, sensing=sensing, resolver=resolver, probes=probes,
                      advisory=advisory,
                      database=database, slack=slack)


async def _listen(stack: AsyncExitStack, app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, host, port).start()


def state_gauge(sessions: async_sessionmaker[AsyncSession], metrics: Metrics) -> Refresh:
    """Counts anomalies by state when /metrics is scraped (one GROUP BY, no background loop)."""

    async def refresh() -> None:
        async with sessions() as session:
            counts = await anomalies.count_by_state(session)
        for state in State:
            metrics.anomalies.labels(state.value).set(counts.get(state.value, 0))

    return refresh


def _socket_mode_problem(error: BaseException) -> str | None:
    """Socket Mode's own errors already say what went wrong; a refused app token may be
    fixed in the Slack app's settings, so it is retried (readiness says why) too."""
    if isinstance(error, ConfigError | TemporaryError):
        return str(error)
    return None
