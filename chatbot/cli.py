"""The ``chatbot`` command: serve, migrate, demo, produce, check-config."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from chatbot import __version__
from chatbot.config.settings import settings_from_env
from chatbot.errors import ConfigError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="chatbot",
        description="Turn Kubernetes flow anomalies into approve/block/escalate decisions in "
                    "Slack and write approved access as Otterize ClientIntents.",
        epilog="Settings come from CHATBOT_* environment variables (see README).")
    top.add_argument("--version", action="version", version=f"chatbot {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve",
                                help="consume anomalies from Kafka and serve Slack actions")
    serve.add_argument("--consumers", type=int, default=1,
                       help="members of the consumer group to run, each a process of its own "
                            "(default 1: this process only)")
    commands.add_parser("migrate", help="bring the database schema to the newest version")
    demo = commands.add_parser("demo", help="run end to end on embedded defaults (no services)")
    demo.add_argument("--port", type=int, default=8765, help="review page port (127.0.0.1)")
    demo.add_argument("--workdir", type=Path, default=Path("demo-output"),
                      help="where the SQLite file and ClientIntents YAML go")
    demo.add_argument("--exit-after-replay", action="store_true",
                      help="stop once the sample flows are replayed (for scripts)")
    produce = commands.add_parser("produce", help="send JSON-lines events to a Kafka topic")
    produce.add_argument("files", nargs="*", type=Path, help="JSON-lines files (default stdin)")
    produce.add_argument("--topic", help="topic (default CHATBOT_KAFKA_TOPIC)")
    produce.add_argument("--samples", action="store_true", help="send the bundled sample flows")
    commands.add_parser("check-config", help="validate settings and the rules file, then exit")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(_dispatch(args))
    except ConfigError as error:
        print(f"chatbot: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace) -> int:
    settings = settings_from_env()
    if args.command == "check-config":
        from chatbot.checks import check_config
        return check_config(settings)
    if args.command == "migrate":
        from chatbot.store.db import make_engine
        from chatbot.store.migrate import current_revision, upgrade
        engine = make_engine(settings.database_url.reveal())
        try:
            await upgrade(engine)
            print(f"database at revision {await current_revision(engine)}")
        finally:
            await engine.dispose()
        return 0
    if args.command == "produce":
        from importlib import resources

        from chatbot.cli_produce import produce
        if not settings.kafka.bootstrap:
            raise ConfigError("CHATBOT_KAFKA_BOOTSTRAP is required for produce")
        sources: list[str | Path] = list(args.files) or ["-"]
        if args.samples:
            sources = [Path(str(resources.files("chatbot").joinpath("samples/flows.jsonl")))]
        await produce(settings.kafka.bootstrap, args.topic or settings.kafka.topic, sources,
                      kafka=settings.kafka)
        return 0
    stop = _stop_on_signals()
    if args.command == "demo":
        from chatbot.demo import run_demo
        code: int = await run_demo(workdir=args.workdir, port=args.port, stop=stop,
                                   exit_after_replay=args.exit_after_replay)
        return code
    from chatbot import logs
    from chatbot.service import build_service, run_service
    logs.configure(settings.log_level)
    if not settings.kafka.bootstrap:
        raise ConfigError("CHATBOT_KAFKA_BOOTSTRAP is required for serve")
    if args.consumers < 1:
        raise ConfigError("serve --consumers must be at least 1")
    service = await build_service(settings, consumers=args.consumers)
    await run_service(service, stop)
    return 0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


if __name__ == "__main__":  # `python -m chatbot.cli …`, as the fault tests run it
    sys.exit(main())
