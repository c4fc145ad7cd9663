"""The bench's Slack side: a local Web API stand-in (``SlackStandin``) the bot posts to, and
signed interaction requests (``signing``) that play the part of Slack calling the bot."""

from testbench.slack.calls import RecordedCall
from testbench.slack.standin import SlackStandin
from testbench.slack.workspace import Ephemeral, Message

__all__ = ["Ephemeral", "Message", "RecordedCall", "SlackStandin"]
