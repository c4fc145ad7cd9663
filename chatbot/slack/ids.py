"""Every action and block id the bot puts in a message, in one place."""

from __future__ import annotations

from enum import StrEnum

from chatbot.lifecycle import Action


class ActionId(StrEnum):
    APPROVE = "anomaly.approve"
    BLOCK = "anomaly.block"
    ESCALATE = "anomaly.escalate"

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


METADATA_EVENT_TYPE = "flow_anomaly"
ESCALATION_EVENT_TYPE = "flow_anomaly_escalation"
DIGEST_EVENT_TYPE = "flow_decision_digest"
PAGE_ACTION_ID = "flows.page"
