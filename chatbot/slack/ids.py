"""Every action and block id the bot puts in a message, in one place."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from chatbot.lifecycle import Action


class ActionId(StrEnum):
    APPROVE = "anomaly.approve"
    BLOCK = "anomaly.block"
    ESCALATE = "anomaly.escalate"
    REVOKE = "anomaly.revoke"

    @property
    def action(self) -> Action:
        return Action(self.value.removeprefix("anomaly."))

    @classmethod
    def of(cls, action: Action) -> ActionId:
        return cls(f"anomaly.{action.value}")


class SnoozeId(StrEnum):
    """Snooze buttons. Kept apart from :class:`ActionId`, whose every member is a lifecycle
    action: a snooze hides updates and decides nothing."""

    HOUR = "anomaly.snooze_hour"
    DAY = "anomaly.snooze_day"

    @property
    def duration(self) -> timedelta:
        return timedelta(hours=1) if self is SnoozeId.HOUR else timedelta(days=1)

    @property
    def label(self) -> str:
        return "Snooze 1 h" if self is SnoozeId.HOUR else "Snooze 1 day"


class BlockId(StrEnum):
    HEADER = "anomaly.header"
    FACTS = "anomaly.facts"
    INTENT = "anomaly.intent"
    DECISION = "anomaly.decision"
    OUTCOME = "anomaly.outcome"
    FOOTER = "anomaly.footer"
    GRANT = "anomaly.grant"
    CONTEXT = "anomaly.context"
    JUSTIFICATION = "anomaly.justification"
    SNOOZE = "anomaly.snooze"


class ViewId(StrEnum):
    """``callback_id`` of the modals the bot opens."""

    JUSTIFY = "anomaly.justify"


JUSTIFICATION_INPUT = "text"
"""The ``action_id`` of the justification text field in its input block."""


class GroupBlockId(StrEnum):
    """A grouped card's blocks; rows and their buttons add the flow's short id."""

    SUMMARY = "group.summary"
    BULK = "group.bulk"
    ROW = "group.row"
    DECISION = "group.decision"
    FOOTER = "group.footer"


METADATA_EVENT_TYPE = "flow_anomaly"
GROUP_EVENT_TYPE = "flow_anomaly_group"
APPROVE_ALL_ACTION_ID = "group.approve_all"
ESCALATION_EVENT_TYPE = "flow_anomaly_escalation"
DIGEST_EVENT_TYPE = "flow_decision_digest"
PAGE_ACTION_ID = "flows.page"
HOME_PAGE_ACTION_ID = "home.page"
