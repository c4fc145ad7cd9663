"""``python -m testbench.slack``: run the Slack stand-in on its own, or send the bot a signed
click or slash command as Slack would.

    python -m testbench.slack serve --port 8090          # prints the base URL
    python -m testbench.slack click --url http://127.0.0.1:3000/slack/events \\
        --user U123 --action approve --value <anomaly-id> --channel C0... --ts 1700000000.000100
    python -m testbench.slack command --url ... --user U123 --channel C0... /flows pending

``click`` and ``command`` sign with ``CHATBOT_SLACK_SIGNING_SECRET``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from testbench.process import progress
from testbench.slack.signing import (
    block_actions_payload,
    interaction_body,
    post_signed,
    slash_command_body,
)
from testbench.slack.standin import SlackStandin

SUBCOMMANDS = ("serve", "click", "command")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m testbench.slack", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = root.add_subparsers(dest="subcommand", required=True)

    serve = sub.add_parser("serve", help="run the Slack Web API stand-in")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--channel", action="append", dest="channels",
                       help="channel to create (repeatable; default flow-alerts, war-room)")
    serve.add_argument("--user", action="append", default=[], metavar="ID:NAME")
    serve.add_argument("--usergroup", action="append", default=[], metavar="ID=U1,U2")

    for name, help_text in (("click", "post a signed button click (block_actions)"),
                            ("command", "post a signed slash command")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--url", required=True, help="the bot's /slack/events URL")
        cmd.add_argument("--user", required=True, help="Slack user ID of the person")
        cmd.add_argument("--channel", required=True, help="channel ID")
        if name == "click":
            cmd.add_argument("--action", required=True, help="action_id, e.g. approve")
            cmd.add_argument("--value", required=True, help="button value, e.g. anomaly id")
            cmd.add_argument("--ts", required=True, help="ts of the message clicked")
            cmd.add_argument("--block-id", default="flow_actions")
            cmd.add_argument("--response-url")
        else:
            cmd.add_argument("words", nargs="+", metavar="/command text")
    return root


async def serve(args: argparse.Namespace) -> None:
    standin = SlackStandin(host=args.host, port=args.port,
                           signing_secret=os.environ.get("CHATBOT_SLACK_SIGNING_SECRET"),
                           bot_token=os.environ.get("CHATBOT_SLACK_BOT_TOKEN"))
    for name in args.channels or ("flow-alerts", "war-room"):
        progress(f"slack: #{name} is {standin.add_channel(name)}")
    for spec in args.user:
        user_id, _, name = spec.partition(":")
        standin.add_user(name or user_id.lower(), user_id=user_id)
    for spec in args.usergroup:
        group_id, _, members = spec.partition("=")
        standin.add_usergroup(group_id, [m for m in members.split(",") if m])
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    async with standin:
        print(standin.base_url, flush=True)
        for key, value in standin.env().items():
            progress(f"export {key}={value}")
        await stopped.wait()


async def send(args: argparse.Namespace) -> int:
    secret = os.environ.get("CHATBOT_SLACK_SIGNING_SECRET")
    if not secret:
        print("CHATBOT_SLACK_SIGNING_SECRET is not set", file=sys.stderr)
        return 2
    if args.subcommand == "click":
        body = interaction_body(block_actions_payload(
            user_id=args.user, action_id=args.action, value=args.value,
            channel_id=args.channel, message_ts=args.ts, block_id=args.block_id,
            response_url=args.response_url))
    else:
        command, *text = args.words
        body = slash_command_body(command=command, text=" ".join(text), user_id=args.user,
                                  channel_id=args.channel)
    status, text_out = await post_signed(args.url, body, secret)
    print(f"HTTP {status} {text_out}")
    return 0 if 200 <= status < 300 else 1


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] not in (*SUBCOMMANDS, "-h", "--help"):
        arguments.insert(0, "serve")  # `python -m testbench.slack --port N` serves
    args = parser().parse_args(arguments)
    if args.subcommand == "serve":
        asyncio.run(serve(args))
        return 0
    return asyncio.run(send(args))


if __name__ == "__main__":
    sys.exit(main())
