"""Every action and block id the bot puts in a message, in one place."""

from __future__ import annotations

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


class ViewId(StrEnum):
    """``callback_id`` of the modals the bot opens."""

    JUSTIFY = "anomaly.justify"


JUSTIFICATION_INPUT = "text"
"""The ``action_id`` of the justification text field in its input block."""


METADATA_EVENT_TYPE = "flow_anomaly"
ESCALATION_EVENT_TYPE = "flow_anomaly_escalation"
DIGEST_EVENT_TYPE = "flow_decision_digest"
PAGE_ACTION_ID = "flows.page"
