"""Block Kit for an anomaly card: pure functions from a :class:`Card` to message dicts.

Limits respected here (Slack rejects larger): 50 blocks, section text 3000 characters,
10 fields of 2000, header 150, button text 75, fallback text kept under 4000.
"""

from __future__ import annotations

from typing import Any

from chatbot.card import (
    ActionLook,
    Card,
    action_look,
    pull_request_look,
    target_details,
    target_label,
)
from chatbot.intents.document import targets_yaml
from chatbot.lifecycle import OPEN_STATES, State
from chatbot.slack.ids import METADATA_EVENT_TYPE, ActionId, BlockId
from chatbot.slack.mrkdwn import (
    Mrkdwn,
    code,
    code_block,
    date,
    fit,
    lines,
    link,
    markup,
    mention,
    plain,
    prose,
)
from chatbot.slack.snooze_blocks import snooze_blocks
from chatbot.slack.trust_blocks import context_block, grant_block, record_lines

Block = dict[str, Any]

_SEVERITY_ICON = {"low": ":large_blue_circle:", "medium": ":large_yellow_circle:",
                  "high": ":large_orange_circle:", "critical": ":red_circle:"}


def anomaly_message(card: Card, *, war_room_decides: bool = False,
                    snooze: bool = True) -> dict[str, Any]:
    """Keyword arguments for ``chat.postMessage`` / ``chat.update`` (minus channel/ts).

    ``snooze``: offer the snooze buttons (the card in the owners' channel; not the war room).

    ``war_room_decides``: this is the original card of a flow whose escalation handed the
    decision to the war-room approvers — it says so and offers no buttons."""
    handed_off = war_room_decides and card.state is State.ESCALATED
    blocks: list[Block] = [_header(card), _facts(card)]
    if card.state is not State.COVERED:  # nothing to approve, nothing the bot would write
        blocks += [grant_block(card), _intent(card)]
    context = context_block(card)
    if context is not None:
        blocks.append(context)
    if card.actions and not handed_off:
        blocks.append(decision_buttons(card))
    blocks.extend(_outcome(card, handed_off=handed_off))
    if snooze and not handed_off:  # once the war room decides, its desk has no snooze
        blocks.extend(snooze_blocks(card))
    blocks.append(_footer(card))
    return {"text": fallback_text(card), "blocks": blocks[:50]}


def message_metadata(card: Card) -> dict[str, Any]:
    """Lets a restarted service find a message whose post outcome it never learned."""
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": {"anomaly_id": card.anomaly_id}}


def fallback_text(card: Card) -> Mrkdwn:
    text = markup("Flow anomaly in {cluster}: {client} → {target} ({state})",
                  cluster=card.cluster, client=f"{card.client.namespace}/{card.client.name}",
                  target=target_label(card.target), state=card.state.replace("_", " "))
    return fit(text, 3000)


def decision_buttons(card: Card) -> Block:
    """One button per action the card's state still allows, looking as the card says (a
    risky Approve carries a confirmation; an applied card offers Revoke)."""
    return {"type": "actions", "block_id": BlockId.DECISION,
            "elements": [_button(action_look(card, action), ActionId.of(action),
                                 card.anomaly_id)
                         for action in card.actions]}


def apply_failure(card: Card) -> Mrkdwn:
    """The thread reply when writing an approval first fails (later retries stay quiet)."""
    if card.state is State.REVOKING:
        return fit(markup(":warning: Removing the revoked target from the ClientIntents of "
                          "{ns}/{name} failed: {error}. It is retried with backoff.",
                          ns=code(card.client.namespace), name=code(card.client.name),
                          error=code(card.apply_error or "unknown error")), 3000)
    return fit(markup(":warning: Writing the ClientIntents for {ns}/{name} failed: {error}. "
                      "It is retried with backoff; this message's card shows the current "
                      "state.", ns=code(card.client.namespace), name=code(card.client.name),
                      error=code(card.apply_error or "unknown error")), 3000)


def covered_line(card: Card) -> Mrkdwn | None:
    """Why a covered flow needs nobody: the ClientIntents written elsewhere that allows it."""
    if card.state is not State.COVERED:
        return None
    return markup(":white_check_mark: Now covered by ClientIntents {ref}; no decision needed",
                  ref=code(card.covered_by or "unknown"))


def escalation_detail(card: Card) -> Mrkdwn | None:
    """Who or what escalated the flow: a live mention for a click, the reason otherwise."""
    if card.escalated_by:
        return markup("escalated by {who}", who=mention(card.escalated_by))
    if card.escalation_reason:
        return markup("{reason}", reason=card.escalation_reason)
    return None


def _header(card: Card) -> Block:
    icon = _SEVERITY_ICON.get(card.severity, "")
    http = target_details(card.target).get("HTTP")
    text = f"{icon} {card.client.name} → {target_label(card.target)}{f' {http}' if http else ''}"
    # plain_text is not parsed for mentions, but angle brackets are swapped for look-alikes
    # anyway so no client ever reads event data in a header as markup.
    text = text.replace("<", "‹").replace(">", "›")
    return {"type": "header", "block_id": BlockId.HEADER,
            "text": {"type": "plain_text", "text": plain(text, 150), "emoji": True}}


def _facts(card: Card) -> Block:
    # Every value from the event is inline code: it reads exactly as the sensor saw it,
    # whatever asterisks, underscores or tildes a path or topic holds.
    facts: dict[str, Mrkdwn] = {
        "Cluster": code(card.cluster),
        "Client": markup("{kind} {workload}", kind=card.client.kind,
                         workload=code(f"{card.client.namespace}/{card.client.name}")),
        **{label: code(value) for label, value in target_details(card.target).items()},
        "Reason": markup("{reason}", reason=card.reason.value),
        "Severity": markup("{severity}", severity=card.severity.value),
        "Seen": markup("{count}× (first {first}, last {last})", count=str(card.event_count),
                       first=date(card.first_seen), last=date(card.last_seen)),
    }
    fields = [{"type": "mrkdwn",
               "text": fit(markup("*{label}*\n{value}", label=label, value=value), 2000)}
              for label, value in list(facts.items())[:10]]
    return {"type": "section", "block_id": BlockId.FACTS, "fields": fields}


def _intent(card: Card) -> Block:
    where = markup("{name} in {namespace}", name=code(card.client.name),
                   namespace=code(card.client.namespace))
    lead = fit(markup("*Approve adds to the ClientIntents of* {where}:" if card.state in
                      OPEN_STATES else "*ClientIntents change for* {where}:", where=where), 600)
    body = code_block(targets_yaml(card.client, card.target), 3000 - len(lead) - 1)
    return {"type": "section", "block_id": BlockId.INTENT,
            "text": {"type": "mrkdwn", "text": f"{lead}\n{body}"}}


def _outcome(card: Card, *, handed_off: bool) -> list[Block]:
    shown: list[Mrkdwn] = []
    who = mention(card.decided_by) if card.decided_by else markup("someone")
    when = date(card.decided_at) if card.decided_at else markup("")
    if card.escalated_at:
        detail = escalation_detail(card)
        shown.append(markup(":rotating_light: *Escalated* {when}{why}",
                            when=date(card.escalated_at),
                            why=markup(": {detail}", detail=detail) if detail else markup("")))
    if handed_off:
        shown.append(markup(":busts_in_silhouette: The war-room approvers decide this flow "
                            "now: Approve and Block are on its message in the war room."))
    if card.approvals and card.state in OPEN_STATES:
        voters = Mrkdwn(", ".join(mention(user) for user in card.approvals))
        shown.append(markup(":ballot_box_with_ballot: Approvals so far: {voters} ({count} of "
                            "{needed}); one Block ends it", voters=voters,
                            count=str(len(card.approvals)),
                            needed=str(card.approvals_required)))
    if card.state in (State.APPROVED, State.APPLIED, State.APPLY_FAILED, State.PROPOSED):
        shown.append(markup(":white_check_mark: *Approved* by {who} {when}", who=who, when=when))
    pull_request = pull_request_look(card)
    if pull_request is not None:
        shown.append(markup(":twisted_rightwards_arrows: {link} ({state}): {text}",
                            link=link(pull_request.url, "Pull request"),
                            state=pull_request.state, text=pull_request.text))
    if card.state is State.APPROVED:
        shown.append(markup(":hourglass_flowing_sand: Writing the ClientIntents…"))
    if card.state is State.APPLIED and card.applied_object and pull_request is None:
        shown.append(markup(":package: ClientIntents {name} updated",
                            name=code(card.applied_object)))
    if card.state is State.APPLY_FAILED:
        shown.append(markup(":warning: Writing the ClientIntents failed (attempt {attempt}), "
                            "retrying: {error}", attempt=str(card.apply_attempts),
                            error=code(card.apply_error or "unknown error")))
    covered = covered_line(card)
    if covered is not None:
        shown.append(covered)
    if card.state is State.BLOCKED or (card.state is State.ESCALATED and
                                        card.decision == "block"):
        shown.append(markup(":no_entry: *Blocked* by {who} {when}", who=who, when=when))
        if card.retried_after_block_at:
            shown.append(markup(":repeat: *Retried after block*: seen again {when}",
                                when=date(card.retried_after_block_at)))
    shown.extend(record_lines(card))
    if not shown:
        return []
    return [{"type": "section", "block_id": BlockId.OUTCOME,
             "text": {"type": "mrkdwn", "text": fit(lines(shown), 3000)}}]


def _footer(card: Card) -> Block:
    text = markup("anomaly {id} · {state}", id=code(card.short_id),
                  state=card.state.replace("_", " "))
    return {"type": "context", "block_id": BlockId.FOOTER,
            "elements": [{"type": "mrkdwn", "text": text}]}


def _button(look: ActionLook, action_id: ActionId, value: str) -> Block:
    button: Block = {"type": "button", "action_id": action_id, "value": value,
                     "text": {"type": "plain_text", "text": plain(look.label, 75)}}
    if look.style:
        button["style"] = look.style
    if look.confirm:
        confirm = look.confirm
        button["confirm"] = {
            "title": {"type": "plain_text", "text": plain(confirm.title, 100)},
            "text": {"type": "mrkdwn", "text": fit(prose(confirm.text), 300)},
            "confirm": {"type": "plain_text", "text": plain(confirm.confirm, 30)},
            "deny": {"type": "plain_text", "text": plain(confirm.deny, 30)}}
    return button
