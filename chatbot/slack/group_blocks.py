"""Block Kit for a grouped card: pure functions from a :class:`~chatbot.card_group.GroupCard`
to message dicts. A summary line, the "Approve all I may decide" button while benign flows
are pending, then each flow as a row with its own buttons (those of a single card, block ids
made unique per row), and a footer naming the group.

A risky flow's row says why it stays out of the bulk action; it keeps its own buttons.
50 blocks at most: the group holds at most :data:`~chatbot.card_group.MAX_ROWS` rows.
"""

from __future__ import annotations

from typing import Any

from chatbot.card import Card, target_label
from chatbot.card_group import GroupCard, GroupRow
from chatbot.lifecycle import OPEN_STATES, State
from chatbot.slack.blocks import Block, covered_line, decision_buttons, escalation_detail
from chatbot.slack.ids import APPROVE_ALL_ACTION_ID, GROUP_EVENT_TYPE, GroupBlockId
from chatbot.slack.mrkdwn import Mrkdwn, code, fit, markup, mention, plain

_STATE_LOOK = {
    State.PENDING: ":large_yellow_circle: pending",
    State.ESCALATED: ":rotating_light: escalated",
    State.APPROVED: ":hourglass_flowing_sand: approved, writing",
    State.APPLIED: ":white_check_mark: approved",
    State.PROPOSED: ":twisted_rightwards_arrows: approved, in a pull request",
    State.APPLY_FAILED: ":warning: approved, writing failed",
    State.BLOCKED: ":no_entry: blocked",
    State.COVERED: ":white_check_mark: covered elsewhere",
}


def group_message(group: GroupCard, *, war_room_decides: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``chat.postMessage`` / ``chat.update`` (minus channel/ts)."""
    blocks: list[Block] = [_summary(group)]
    sweepable = group.sweepable
    if sweepable:
        blocks.append(_bulk(group, len(sweepable)))
    for row in group.rows:
        blocks.extend(_row(row, war_room_decides=war_room_decides))
    blocks.append({"type": "context", "block_id": GroupBlockId.FOOTER,
                   "elements": [{"type": "mrkdwn",
                                 "text": markup("group {id}", id=code(group.group_id[:8]))}]})
    return {"text": fallback_text(group), "blocks": blocks[:50]}


def group_metadata(group_id: str) -> dict[str, Any]:
    """Lets a restarted service find a group message whose post outcome it never learned
    (the payload key is the one :func:`chatbot.slack.delivery.find_posted` reads)."""
    return {"event_type": GROUP_EVENT_TYPE, "event_payload": {"anomaly_id": group_id}}


def fallback_text(group: GroupCard) -> Mrkdwn:
    return fit(markup("{count} new flows from {workload} in {cluster} ({pending} pending)",
                      count=str(len(group.rows)), workload=f"{group.namespace}/"
                      f"{group.workload}", cluster=group.cluster,
                      pending=str(group.pending)), 3000)


def _summary(group: GroupCard) -> Block:
    risky = sum(1 for row in group.rows if row.risks and row.card.state in OPEN_STATES)
    text = markup("*{count} new flows* from {workload} in {cluster} · {pending} pending{risky}",
                  count=str(len(group.rows)),
                  workload=code(f"{group.namespace}/{group.workload}"),
                  cluster=code(group.cluster), pending=str(group.pending),
                  risky=markup(" · {n} need their own decision", n=str(risky)) if risky
                  else markup(""))
    return {"type": "section", "block_id": GroupBlockId.SUMMARY,
            "text": {"type": "mrkdwn", "text": fit(text, 3000)}}


def _bulk(group: GroupCard, count: int) -> Block:
    return {"type": "actions", "block_id": GroupBlockId.BULK,
            "elements": [{"type": "button", "action_id": APPROVE_ALL_ACTION_ID,
                          "value": group.group_id, "style": "primary",
                          "text": {"type": "plain_text",
                                   "text": plain(f"Approve all I may decide ({count})", 75)}}]}


def _row(row: GroupRow, *, war_room_decides: bool) -> list[Block]:
    card = row.card
    handed_off = war_room_decides and card.state is State.ESCALATED
    blocks: list[Block] = [{"type": "section", "block_id": f"{GroupBlockId.ROW}.{card.short_id}",
                            "text": {"type": "mrkdwn", "text": fit(_row_text(row), 3000)}}]
    if card.actions and not handed_off:  # an applied row offers Revoke, as its own card would
        buttons = decision_buttons(card)
        blocks.append({**buttons, "block_id": f"{GroupBlockId.DECISION}.{card.short_id}"})
    return blocks


def _row_text(row: GroupRow) -> Mrkdwn:
    card = row.card
    parts = [markup("*→ {target}* · {reason} · {severity} · {state}",
                    target=target_label(card.target), reason=card.reason.value,
                    severity=card.severity.value,
                    state=Mrkdwn(_STATE_LOOK.get(card.state, card.state.value)))]
    parts.extend(_who(card))
    covered = covered_line(card)
    if covered is not None:
        parts.append(covered)
    if row.risks and card.state in OPEN_STATES:
        parts.append(markup(":mag: needs its own decision: {risks}", risks="; ".join(row.risks)))
    parts.append(markup("anomaly {id}", id=code(card.short_id)))
    return Mrkdwn("\n".join(parts))


def _who(card: Card) -> list[Mrkdwn]:
    if card.decided_by and card.state not in OPEN_STATES and card.state is not State.COVERED:
        return [markup("by {who}", who=mention(card.decided_by))]
    if card.state is State.ESCALATED:
        detail = escalation_detail(card)
        return [markup("{detail}", detail=detail)] if detail else []
    if card.approvals:
        return [markup("approvals {count} of {needed}", count=str(len(card.approvals)),
                       needed=str(card.approvals_required))]
    return []
