"""The ``chatbot`` command: serve, migrate, demo, produce, import-intents, check-config,
revoke.

A person never sees a traceback for a problem they can fix: configuration problems are
listed all at once (exit 2), a dependency that does not answer is one line saying where
(exit 2). ``<command> --help`` lists the settings the command reads, with their defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from chatbot import __version__
from chatbot.config.catalog import CHECK, MIGRATE, PRODUCE, SERVE, settings_help
from chatbot.config.settings import Settings, settings_from_env
from chatbot.config.validate import bootstrap_problems, in_cluster, problems_for_serve
from chatbot.errors import ConfigError, ConfigProblems, Unreachable

CONFIG_HELP = "the rules file (instead of CHATBOT_CONFIG)"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="chatbot",
        description="Turn Kubernetes flow anomalies into approve/block/escalate decisions in "
                    "Slack and write approved access as Otterize ClientIntents.",
        epilog="Settings come from CHATBOT_* environment variables; `chatbot COMMAND --help` "
               "lists the ones each command reads.")
    top.add_argument("--version", action="version", version=f"chatbot {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = _command(commands, SERVE, "consume anomalies from Kafka and serve Slack actions",
                     "Validate every setting (all problems at once, nothing created before), "
                     "then consume, post and listen. Late dependencies are retried.")
    serve.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    serve.add_argument("--consumers", type=int, default=1,
                       help="members of the consumer group to run, each a process of its own "
                            "(default 1: this process only)")
    _command(commands, MIGRATE, "bring the database schema to the newest version")
    demo = commands.add_parser("demo", help="run end to end on embedded defaults (no services)")
    demo.add_argument("--host", default="127.0.0.1",
                      help="address the review page binds (default 127.0.0.1; 0.0.0.0 to try "
                           "it from outside a container or VM)")
    demo.add_argument("--port", type=int, default=8765, help="review page port (default 8765)")
    demo.add_argument("--allow-host", action="append", default=[], metavar="NAME:PORT",
                      help="another Host the page answers to, as the browser's address bar "
                           "shows it (behind a port mapping); repeatable")
    demo.add_argument("--workdir", type=Path, default=Path("demo-output"),
                      help="where the SQLite file and ClientIntents YAML go")
    demo.add_argument("--exit-after-replay", action="store_true",
                      help="stop once the sample flows are replayed (for scripts)")
    produce = _command(commands, PRODUCE, "send JSON-lines events to a Kafka topic")
    produce.add_argument("files", nargs="*", type=Path, help="JSON-lines files (default stdin)")
    produce.add_argument("--topic", help="topic (default CHATBOT_KAFKA_TOPIC)")
    produce.add_argument("--samples", action="store_true", help="send the bundled sample flows")
    from chatbot import cli_import
    cli_import.add_command(commands)
    check = _command(commands, CHECK, "validate settings and the rules file, then exit",
                     "Exit 0 when serve would work; otherwise print one line per problem, "
                     "naming the setting and why, and exit 2 (a CI gate).")
    check.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    check.add_argument("--online", action="store_true",
                       help="also ask the live parts: Slack (token, channels, user groups), "
                            "Kafka (topics), the database, Redis, and the apiserver (may this "
                            "identity write ClientIntents?)")
    check.add_argument("--rules-only", action="store_true",
                       help="check only the rules file (a CI job with no secrets)")
    check.add_argument("--namespace", action="append", default=[], metavar="NS",
                       help="with --online: check ClientIntents access in NS instead of every "
                            "namespace (RBAC scoped to namespaces); repeatable")
    check.add_argument("--explain", type=Path, metavar="EVENT.json",
                       help="also print which decision rule decides this event, and why")
    revoke = commands.add_parser(
        "revoke", help="break glass: remove an applied approval's target without chat")
    revoke.add_argument("anomaly", help="the anomaly id, or its first characters (≥ 6)")
    revoke.add_argument("--reason", required=True, help="why (audited with your user name)")
    return top


def _command(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
             summary: str, description: str | None = None) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=summary,
                               description=textwrap.fill(description or summary, width=78),
                               epilog=settings_help(name),
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command != SERVE:
        # One-shot commands say what went wrong themselves, in one line; the libraries'
        # own log lines (aiokafka's "Unable connect to …") would only repeat it.
        logging.getLogger().addHandler(logging.NullHandler())
    try:
        return asyncio.run(_dispatch(args))
    except ConfigProblems as error:
        for problem in error.problems:
            print(f"chatbot: configuration error: {problem}", file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"chatbot: configuration error: {error}", file=sys.stderr)
        return 2
    except Unreachable as error:
        print(f"chatbot {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace) -> int:
    settings = settings_from_env(config_path=getattr(args, "config", None))
    if args.command == CHECK:
        from chatbot.checks import check_config
        return await check_config(settings, online=args.online, rules_only=args.rules_only,
                                  namespaces=args.namespace, explain_event=args.explain)
    if args.command == "import-intents":
        from chatbot import cli_import
        imported: int = await cli_import.run(args, settings)
        return imported
    if args.command == "revoke":
        from chatbot.cli_revoke import revoke
        return await revoke(settings, args.anomaly, reason=args.reason)
    if args.command == MIGRATE:
        return await _migrate(settings)
    if args.command == PRODUCE:
        return await _produce(settings, args)
    stop = _stop_on_signals()
    if args.command == "demo":
        from chatbot.demo import run_demo
        code: int = await run_demo(workdir=args.workdir, host=args.host, port=args.port,
                                   allow_hosts=args.allow_host, stop=stop,
                                   exit_after_replay=args.exit_after_replay)
        return code
    return await _serve(settings, stop, consumers=args.consumers)


async def _serve(settings: Settings, stop: asyncio.Event, *, consumers: int = 1) -> int:
    from chatbot.checks import decision_problems
    problems, rules = problems_for_serve(settings, cluster_config=in_cluster())
    if rules is not None:
        problems += decision_problems(rules)
    if problems:  # before anything is opened or created (no ./chatbot.db)
        raise ConfigProblems(problems)
    from chatbot import logs
    from chatbot.service import open_service
    from chatbot.supervisor import TaskDied
    logs.configure(settings.log_level)
    try:
        async with open_service(settings, rules=rules, consumers=consumers) as service:
            await service.run(stop)
    except TaskDied as died:  # exit non-zero so the pod is restarted, not left idling
        print(f"chatbot serve: {died}", file=sys.stderr)
        return 1
    return 0


async def _migrate(settings: Settings) -> int:
    from chatbot.config.validate import database_problems
    from chatbot.store.db import make_engine
    from chatbot.store.migrate import current_revision, upgrade
    from chatbot.unreachable import database_problem
    url = settings.database_url.reveal()
    if problems := database_problems(settings):
        raise ConfigProblems(problems)
    engine = make_engine(url)
    try:
        await upgrade(engine)
        print(f"database at revision {await current_revision(engine)}")
    except Exception as error:
        problem = database_problem(url, error)
        if problem is None:
            raise
        raise Unreachable(problem) from error
    finally:
        await engine.dispose()
    return 0


async def _produce(settings: Settings, args: argparse.Namespace) -> int:
    from importlib import resources

    from chatbot.cli_produce import produce
    if problems := bootstrap_problems(settings.kafka.bootstrap):
        raise ConfigProblems(problems)
    assert settings.kafka.bootstrap is not None
    sources: list[str | Path] = list(args.files) or ["-"]
    if args.samples:
        sources = [Path(str(resources.files("chatbot").joinpath("samples/flows.jsonl")))]
    await produce(settings.kafka.bootstrap, args.topic or settings.kafka.topic, sources,
                  kafka=settings.kafka)
    return 0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


if __name__ == "__main__":  # `python -m chatbot.cli …`, as the fault tests run it
    sys.exit(main())
