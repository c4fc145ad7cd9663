"""The bench's Slack side: a local Web API stand-in (``SlackStandin``) the bot posts to, and
signed interaction requests (``signing``) that play the part of Slack calling the bot, and
what a person would read in each message (``render``)."""

from testbench.slack.calls import RecordedCall
from testbench.slack.render import Shown
from testbench.slack.standin import SlackStandin
from testbench.slack.workspace import Ephemeral, Message

__all__ = ["Ephemeral", "Message", "RecordedCall", "Shown", "SlackStandin"]
