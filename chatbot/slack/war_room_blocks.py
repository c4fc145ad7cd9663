"""Block Kit for the war-room (or incident-channel) message of an escalated anomaly: the
full card, why it escalated, a link to the original message, Approve / Block for the
responders. Pure, like :mod:`chatbot.slack.blocks`."""

from __future__ import annotations

from typing import Any

from chatbot.card import Card, target_label
from chatbot.slack.blocks import anomaly_message
from chatbot.slack.ids import ESCALATION_EVENT_TYPE
from chatbot.slack.mrkdwn import escape, fit

TRIGGER_TEXT = {
    "click": "a person asked for it",
    "critical": "the flow is critical",
    "compliance": "it touches a compliance namespace",
    "retried-after-block": "it was retried after a block",
    "pending-timeout": "nobody decided in time",
}


def war_room_message(card: Card, *, permalink: str | None) -> dict[str, Any]:
    base = anomaly_message(card)
    why = TRIGGER_TEXT.get(card.escalation_trigger or "", "it was escalated")
    detail = f" ({escape(card.escalation_reason)})" if card.escalation_reason else ""
    link = f" · <{permalink}|original message>" if permalink else ""
    lead = {"type": "section", "block_id": "escalation.why",
            "text": {"type": "mrkdwn",
                     "text": fit(f":rotating_light: *Escalated because {why}*{detail}{link}",
                                 3000)}}
    text = fit(escape(f"Escalated flow in {card.cluster}: {card.client.namespace}/"
                      f"{card.client.name} → {target_label(card.target)}"), 3000)
    return {"text": text, "blocks": [base["blocks"][0], lead, *base["blocks"][1:]][:50]}


def escalation_metadata(card: Card) -> dict[str, Any]:
    return {"event_type": ESCALATION_EVENT_TYPE,
            "event_payload": {"anomaly_id": card.anomaly_id}}


def incident_pointer(card: Card, incident_channel_id: str) -> str:
    return fit(f":rotating_light: Incident channel <#{incident_channel_id}> opened for "
               f"{escape(card.client.namespace)}/{escape(card.client.name)} → "
               f"{escape(target_label(card.target))}", 3000)
