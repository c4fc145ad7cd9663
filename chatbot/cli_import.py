"""``chatbot import-intents FILE|-``: what Otterize's network-mapper discovered becomes
anomalies, through the same path as any sensor's events. The export is parsed
(intents/network_mapper.py), every target an approved intent already allows is dropped
(the coverage index, read once from the cluster or the intents directory), and the rest is
sent to the events topic as schema-v1 ``new-connection`` events, where the running service
dedups, routes and escalates them like the others. Importing the same export twice sends
the same event ids, which the service treats as redeliveries.

Wiring (cli.py): ``cli_import.add_command(commands)`` in ``parser()``, and
``return await cli_import.run(args, settings)`` for ``args.command == "import-intents"``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaProducer

from chatbot.config.settings import Settings
from chatbot.errors import ConfigError
from chatbot.events.encode import event_json
from chatbot.events.fingerprint import fingerprint
from chatbot.events.model import FlowEvent
from chatbot.intents.coverage import CoverageIndex
from chatbot.intents.directory_index import DirectoryIndex
from chatbot.intents.kubernetes import kubernetes_sink
from chatbot.intents.network_mapper import DEFAULT_KIND, BadExport, parse_export
from chatbot.intents.watch import IntentsWatcher
from chatbot.pipeline.kafka_clients import producer_kwargs

Send = Callable[[Sequence[FlowEvent]], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class ImportSummary:
    discovered: int
    covered: int
    sent: int
    problems: int


def add_command(commands: Any) -> None:
    """Register the subcommand on ``chatbot``'s subparsers."""
    command = commands.add_parser(
        "import-intents", help="turn a network-mapper export into anomalies (FILE or -)")
    command.add_argument("source", help="the output of `otterize network-mapper export`, "
                         "YAML or JSON; - for stdin")
    command.add_argument("--cluster", default=None,
                         help="the cluster the export came from (default: "
                              "CHATBOT_HUBBLE_CLUSTER, else default)")
    command.add_argument("--default-kind", default=DEFAULT_KIND,
                         help="workload kind when the export names none (v1 exports never "
                              f"do; default {DEFAULT_KIND})")
    command.add_argument("--topic", help="topic (default CHATBOT_KAFKA_TOPIC)")
    command.add_argument("--dry-run", action="store_true",
                         help="print the events that would be sent instead of sending them")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Exit status: 0 all imported, 1 some targets skipped (listed on stderr), 2 unreadable."""
    try:
        return await _run(args, settings)
    except BadExport as error:
        print(f"import-intents: {args.source}: {error}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    coverage = await approved_intents(settings)
    cluster = args.cluster or settings.hubble_cluster
    if args.dry_run:
        summary = await import_intents(args.source, cluster=cluster,
                                       default_kind=args.default_kind, coverage=coverage,
                                       send=_print_events)
    else:
        if not settings.kafka.bootstrap:
            raise ConfigError("CHATBOT_KAFKA_BOOTSTRAP is required for import-intents")
        async with kafka_sender(settings, args.topic or settings.kafka.topic) as send:
            summary = await import_intents(args.source, cluster=cluster,
                                           default_kind=args.default_kind, coverage=coverage,
                                           send=send)
    return 0 if summary.problems == 0 else 1


async def _print_events(events: Sequence[FlowEvent]) -> int:
    for event in events:
        sys.stdout.write(event_json(event).decode() + "\n")
    return len(events)


async def import_intents(
    source: str | Path,
    *,
    cluster: str,
    coverage: CoverageIndex,
    send: Send,
    default_kind: str = DEFAULT_KIND,
    now: datetime | None = None,
    report: TextIO | None = None,
) -> ImportSummary:
    report = report or sys.stderr
    text = await asyncio.to_thread(_read, source)
    result = parse_export(text, cluster=cluster, observed_at=now or datetime.now(UTC),
                          default_kind=default_kind)
    for problem in result.problems:
        print(f"import-intents: skipped: {problem}", file=report)
    uncovered = [event for event in result.events if not coverage.covers(event)]
    sent = await send(uncovered) if uncovered else 0
    summary = ImportSummary(discovered=len(result.events),
                            covered=len(result.events) - len(uncovered), sent=sent,
                            problems=len(result.problems))
    print(f"import-intents: {result.documents} ClientIntents, {summary.discovered} targets: "
          f"{summary.covered} already approved, {summary.sent} sent as new-connection "
          f"anomalies, {summary.problems} skipped", file=report)
    return summary


async def approved_intents(settings: Settings) -> CoverageIndex:
    """The approved intents as they stand now: the intents directory, or the cluster's."""
    index = CoverageIndex()
    directory = settings.intents_directory
    if directory is not None:
        await DirectoryIndex(directory, index=index).refresh()
        return index
    sink = await kubernetes_sink(settings.kubeconfig)
    try:
        await IntentsWatcher(sink.api_client, index=index).relist()
    finally:
        await sink.close()
    return index


@asynccontextmanager
async def kafka_sender(settings: Settings, topic: str) -> AsyncIterator[Send]:
    """Sends events keyed by fingerprint, as ``chatbot produce`` does, so one flow stays on
    one partition."""
    producer = AIOKafkaProducer(**producer_kwargs(settings.kafka))
    await producer.start()

    async def send(events: Sequence[FlowEvent]) -> int:
        pending = [await producer.send(topic, event_json(event), fingerprint(event).encode())
                   for event in events]
        await asyncio.gather(*pending)
        return len(pending)

    try:
        yield send
    finally:
        await producer.stop()


def _read(source: str | Path) -> bytes:
    if str(source) == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ConfigError(f"import-intents FILE: cannot read {source}: {exc}") from exc
