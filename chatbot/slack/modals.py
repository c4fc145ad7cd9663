"""The justification modal a risky decision opens (``views.open``), pure: the flow in one line,
why the risk rules want words, and one text field. The submission comes back to
:mod:`handlers.justification` with the anomaly and action in ``private_metadata``."""

from __future__ import annotations

import json
from typing import Any

from chatbot.card import JUSTIFICATION_MAX, Card, flow_label
from chatbot.lifecycle import Action
from chatbot.slack.ids import JUSTIFICATION_INPUT, BlockId, ViewId
from chatbot.slack.mrkdwn import fit, lines, markup, plain

SUBMIT = {Action.APPROVE: "Approve", Action.BLOCK: "Block", Action.REVOKE: "Revoke"}


def justification_modal(card: Card, action: Action, *, channel_id: str) -> dict[str, Any]:
    summary = markup("*{client} → {target}*\nRisky: {reasons}",
                     client=f"{card.client.namespace}/{card.client.name}",
                     target=flow_label(card.target),
                     reasons="; ".join(card.risk.reasons) or "the risk rules")
    grant = lines([markup(f"*What {action.value} opens*"),
                   *(markup("• {line}", line=line) for line in card.grant)])
    return {
        "type": "modal",
        "callback_id": ViewId.JUSTIFY,
        "private_metadata": json.dumps({"anomaly_id": card.anomaly_id, "action": action.value,
                                        "channel": channel_id}),
        "title": {"type": "plain_text", "text": plain(f"Why {action.value}?", 24)},
        "submit": {"type": "plain_text", "text": plain(SUBMIT.get(action, "Send"), 24)},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": fit(summary, 3000)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": fit(grant, 3000)}},
            {"type": "input", "block_id": BlockId.JUSTIFICATION,
             "label": {"type": "plain_text", "text": "Justification"},
             "hint": {"type": "plain_text",
                      "text": "Stored with the decision, in the audit log and in the "
                              "ClientIntents annotations."},
             "element": {"type": "plain_text_input", "action_id": JUSTIFICATION_INPUT,
                         "multiline": True, "max_length": JUSTIFICATION_MAX,
                         "placeholder": {"type": "plain_text",
                                         "text": "Why this access is needed; a ticket link"}}},
        ],
    }
