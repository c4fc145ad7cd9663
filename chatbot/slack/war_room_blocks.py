"""Block Kit for the war-room (or incident-channel) message of an escalated anomaly: the
full card, why it escalated, a link to the original message, Approve / Block for the
responders. Pure, like :mod:`chatbot.slack.blocks`."""

from __future__ import annotations

from typing import Any

from chatbot.card import Card, target_label
from chatbot.slack.blocks import anomaly_message, escalation_detail
from chatbot.slack.ids import ESCALATION_EVENT_TYPE
from chatbot.slack.mrkdwn import Mrkdwn, channel, fit, link, markup

TRIGGER_TEXT = {
    "click": "a person asked for it",
    "critical": "the flow is critical",
    "compliance": "it touches a compliance namespace",
    "retried-after-block": "it was retried after a block",
    "pending-timeout": "nobody decided in time",
}


def war_room_message(card: Card, *, permalink: str | None) -> dict[str, Any]:
    """``permalink``: of the original card; None while that card is not posted yet (the
    desk updates this message with the link once it is)."""
    base = anomaly_message(card, snooze=False)  # a snooze quiets the owners' card only
    why = TRIGGER_TEXT.get(card.escalation_trigger or "", "it was escalated")
    detail = escalation_detail(card)
    lead = markup(":rotating_light: *Escalated because {why}*{detail}{link}", why=why,
                  detail=markup(" ({detail})", detail=detail) if detail else Mrkdwn(),
                  link=(markup(" · {link}", link=link(permalink, "original message"))
                        if permalink else Mrkdwn()))
    block = {"type": "section", "block_id": "escalation.why",
             "text": {"type": "mrkdwn", "text": fit(lead, 3000)}}
    text = fit(markup("Escalated flow in {cluster}: {client} → {target}", cluster=card.cluster,
                      client=f"{card.client.namespace}/{card.client.name}",
                      target=target_label(card.target)), 3000)
    return {"text": text, "blocks": [base["blocks"][0], block, *base["blocks"][1:]][:50]}


def escalation_metadata(card: Card) -> dict[str, Any]:
    return {"event_type": ESCALATION_EVENT_TYPE,
            "event_payload": {"anomaly_id": card.anomaly_id}}


def incident_pointer(card: Card, incident_channel_id: str) -> Mrkdwn:
    return fit(markup(":rotating_light: Incident channel {channel} opened for {client} → "
                      "{target}", channel=channel(incident_channel_id),
                      client=f"{card.client.namespace}/{card.client.name}",
                      target=target_label(card.target)), 3000)
