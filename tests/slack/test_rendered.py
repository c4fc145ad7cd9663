"""Every card kind and state, read the way Slack shows it (the stand-in's renderer): the
service's own dates, mentions and links work, and nothing from the event mentions anyone,
links anywhere or restyles the card — a path reads exactly as the sensor saw it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chatbot.card import Card
from chatbot.events.model import (
    HttpCall,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Severity,
    Target,
    Workload,
)
from chatbot.lifecycle import State
from chatbot.slack.blocks import anomaly_message, apply_failure
from chatbot.slack.war_room_blocks import incident_pointer, war_room_message
from testbench.slack.render import Shown, mrkdwn, shown_message
from testbench.slack.workspace import Message, Workspace

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
T0_SHOWN = "Nov 23, 2026 08:00"
APPROVER, RESPONDER, SECOND = "U0APPROVER", "U0RESPONDER", "U0SECOND"
PERMALINK = "https://flow-bench.slack.com/archives/C0CARDS/p1795420800000100"

# What a sensor may report (all of it passes event validation) — and text that would be
# markup if Slack read it as such.
PATH = "/`v1`/*bold*/_it_/~strike~/<!channel>/<@U0EVIL>/<https://evil.example|login>/&amp;"
TOPIC = "_orders_"
DOMAIN = "*.evil.example"
LABELLED = "the client is labelled compliance=*pci*"
APPLY_ERROR = "denied *by* <!everyone> for `clientintents` <https://evil.example|fix>"
# Defence in depth: names validation would reject, still rendered harmlessly.
CLUSTER = "<!here>"
NAMESPACE = "ns<@U0EVIL>"

TARGETS: dict[str, Target] = {
    "kubernetes": KubernetesTarget(name="ledger", namespace="payments", kind="Deployment",
                                   port=8080, protocol="TCP",
                                   http=HttpCall(path=PATH, method="POST")),
    "kafka": KafkaTarget(name="broker", namespace="kafka", topic=TOPIC, operation="produce"),
    "internet": InternetTarget(domain=DOMAIN, ip=None, port=443, protocol="TCP"),
}
# What each kind must show verbatim (a backtick cannot live in a code span: its look-alike).
VERBATIM = {"kubernetes": f"POST {PATH}".replace("`", "ˋ"), "kafka": f"{TOPIC} (produce)",
            "internet": DOMAIN}

# Bold the service writes; anything else bold, italic or struck came from an event.
SERVICE_STYLING = {"Cluster", "Client", "Target", "Port", "HTTP", "Kafka server", "Topic",
                   "Internet", "Reason", "Severity", "Seen", "Approved", "Blocked",
                   "Escalated", "Retried after block", "Approve adds to the ClientIntents of",
                   "ClientIntents change for"}


def card(kind: str, **changes: Any) -> Card:
    base = Card(anomaly_id="f" * 32, cluster=CLUSTER,
                client=Workload(name="web", namespace=NAMESPACE, kind="Deployment",
                                labels={"compliance": "*pci*"}),
                target=TARGETS[kind], reason=Reason.NO_INTENT, severity=Severity.HIGH,
                state=State.PENDING, version=3, event_count=7, first_seen=T0,
                last_seen=T0 + timedelta(hours=1))
    return replace(base, **changes)


def decided(**changes: Any) -> dict[str, Any]:
    return {"decided_by": APPROVER, "decided_at": T0, **changes}


ESCALATED_BY_CLICK = {"state": State.ESCALATED, "escalated_at": T0, "escalated_by": APPROVER,
                      "escalation_trigger": "click"}
ESCALATED_BY_RULE = {"state": State.ESCALATED, "escalated_at": T0, "escalation_reason": LABELLED,
                     "escalation_trigger": "compliance"}

STATES: dict[str, dict[str, Any]] = {
    "pending": {},
    "quorum votes": {"approvals": (APPROVER,), "approvals_required": 2},
    "escalated by a click": ESCALATED_BY_CLICK,
    "escalated by a rule": ESCALATED_BY_RULE,
    "approved": decided(state=State.APPROVED, decision="approve"),
    "applied": decided(state=State.APPLIED, decision="approve",
                       applied_object="ClientIntents payments/web"),
    "apply failed": decided(state=State.APPLY_FAILED, decision="approve", apply_attempts=2,
                            apply_error=APPLY_ERROR),
    "blocked": decided(state=State.BLOCKED, decision="block"),
    "retried after block": decided(state=State.BLOCKED, decision="block",
                                   retried_after_block_at=T0),
    "escalated after a retried block": decided(
        state=State.ESCALATED, decision="block", retried_after_block_at=T0, escalated_at=T0,
        escalation_reason="the flow was seen again after it was blocked",
        escalation_trigger="retried-after-block"),
}


def read(message: dict[str, Any], workspace: Workspace) -> Shown:
    posted = Message(channel="C0CARDS", ts="1795420800.000100", user="U0BENCHBOT1",
                     text=str(message["text"]), blocks=message["blocks"])
    return shown_message(posted, workspace)


@pytest.fixture
def workspace() -> Workspace:
    workspace = Workspace()
    for user_id, name in ((APPROVER, "approver"), (RESPONDER, "responder"),
                          (SECOND, "second"), ("U0EVIL", "evil")):
        workspace.add_user(name, user_id=user_id)
    return workspace


def assert_reads_right(shown: Shown, *, mentions: list[str], links: Sequence[str] = ()) -> None:
    text = shown.text
    # A service token escaped once too often would be read literally.
    for leaked in ("<!date^", f"<@{APPROVER}>", f"<@{RESPONDER}>", "&lt;", "&gt;", "<#C"):
        assert leaked not in text, f"{leaked!r} shown literally in:\n{text}"
    # Only the service's own mentions notify anyone; event text mentions nobody.
    assert sorted(shown.mentions) == sorted(mentions), text
    assert [label for label, _ in shown.links] == list(links), text
    assert not shown.unread, text
    assert all(date == T0_SHOWN or date.startswith("Nov 23, 2026") for date in shown.dates)
    restyled = [(style, s) for style, s in shown.styled
                if style != "code" and s not in SERVICE_STYLING
                and not s.startswith("Escalated because")]
    assert restyled == [], f"event text restyled the card: {restyled}"


@pytest.mark.parametrize("kind", list(TARGETS))
@pytest.mark.parametrize("state", list(STATES))
def test_every_card_reads_as_slack_shows_it(kind: str, state: str,
                                            workspace: Workspace) -> None:
    shown = read(anomaly_message(card(kind, **STATES[state])), workspace)
    expected = {"quorum votes": ["@approver"], "escalated by a click": ["@approver"],
                "pending": [], "escalated by a rule": []}.get(state, ["@approver"])
    assert_reads_right(shown, mentions=expected)
    assert VERBATIM[kind] in shown.text
    assert f"7× (first {T0_SHOWN}, last Nov 23, 2026 09:00)" in shown.text
    assert "<!here>" in shown.text and "ns<@U0EVIL>/web" in shown.text  # shown, not obeyed


def test_each_state_says_what_happened_in_words(workspace: Workspace) -> None:
    def text(state: str) -> str:
        return read(anomaly_message(card("kubernetes", **STATES[state])), workspace).text

    assert "[Approve] [Block] [Escalate]" in text("pending")
    assert "Approvals so far: @approver (1 of 2)" in text("quorum votes")
    assert f"Escalated {T0_SHOWN}: escalated by @approver" in text("escalated by a click")
    assert "Escalated Nov 23, 2026 08:00: the client is labelled compliance=∗pci∗" in text(
        "escalated by a rule")
    assert f"Approved by @approver {T0_SHOWN}" in text("applied")
    assert "ClientIntents payments/web updated" in text("applied")
    failed = text("apply failed")
    assert "failed (attempt 2), retrying: " in failed
    assert APPLY_ERROR.replace("`", "ˋ") in failed  # as the apiserver said it, as code
    assert f"Blocked by @approver {T0_SHOWN}" in text("blocked")
    assert f"Retried after block: seen again {T0_SHOWN}" in text("retried after block")
    assert "[" not in text("applied") and "[" not in text("blocked")


@pytest.mark.parametrize("kind", list(TARGETS))
def test_the_original_card_of_a_flow_handed_to_the_war_room(kind: str,
                                                           workspace: Workspace) -> None:
    shown = read(anomaly_message(card(kind, **ESCALATED_BY_CLICK), war_room_decides=True),
                 workspace)
    assert_reads_right(shown, mentions=["@approver"])
    assert shown.buttons == []
    assert "The war-room approvers decide this flow now" in shown.text


@pytest.mark.parametrize("kind", list(TARGETS))
@pytest.mark.parametrize("state", ["escalated by a click", "escalated by a rule",
                                   "escalated after a retried block"])
@pytest.mark.parametrize("permalink", [PERMALINK, None])
def test_the_war_room_message_reads_as_slack_shows_it(kind: str, state: str,
                                                      permalink: str | None,
                                                      workspace: Workspace) -> None:
    shown = read(war_room_message(card(kind, **STATES[state]), permalink=permalink), workspace)
    by_click = state == "escalated by a click"
    # The click's mention appears twice: in the reason line and in the card's outcome.
    mentions = {"escalated by a click": ["@approver", "@approver"],
                "escalated after a retried block": ["@approver"]}.get(state, [])
    assert_reads_right(shown, mentions=mentions,
                       links=["original message"] if permalink else [])
    assert ("· original message" in shown.text) is bool(permalink)
    assert shown.links[:1] == ([("original message", PERMALINK)] if permalink else [])
    assert ("(escalated by @approver)" in shown.text) is by_click
    assert shown.buttons == ["Approve", "Block"]
    assert VERBATIM[kind] in shown.text


def test_a_war_room_approval_reads_right_in_both_rooms(workspace: Workspace) -> None:
    approved = card("kubernetes", **{**ESCALATED_BY_RULE, **decided(
        state=State.APPLIED, decision="approve", decided_by=RESPONDER,
        applied_object="ClientIntents payments/web")})
    for message in (anomaly_message(approved, war_room_decides=True),
                    war_room_message(approved, permalink=PERMALINK)):
        shown = read(message, workspace)
        assert_reads_right(shown, mentions=["@responder"],
                           links=["original message"] if "escalation.why" in str(message)
                           else [])
        assert f"Approved by @responder {T0_SHOWN}" in shown.text and not shown.buttons


def test_the_thread_reply_and_the_incident_pointer_read_right(workspace: Workspace) -> None:
    workspace.add_channel("inc-20261123-ffffffff")
    incident = workspace.find_channel("inc-20261123-ffffffff")
    assert incident is not None
    failed = card("kubernetes", **STATES["apply failed"])
    reply = mrkdwn(apply_failure(failed), workspace)
    assert_reads_right(reply, mentions=[])
    assert APPLY_ERROR.replace("`", "ˋ") in reply.text and "ns<@U0EVIL>/web" in reply.text
    pointer = mrkdwn(incident_pointer(failed, incident.id), workspace)
    assert_reads_right(pointer, mentions=[], links=["#inc-20261123-ffffffff"])
    assert "Incident channel #inc-20261123-ffffffff opened for ns<@U0EVIL>/web" in pointer.text


def test_the_notification_text_mentions_nobody(workspace: Workspace) -> None:
    for kind in TARGETS:
        for message in (anomaly_message(card(kind)),
                        war_room_message(card(kind, **ESCALATED_BY_CLICK), permalink=None)):
            shown = mrkdwn(str(message["text"]), workspace)
            assert_reads_right(shown, mentions=[])
            assert "<!here>" in shown.text


def test_the_renderer_catches_the_old_double_escaped_date(workspace: Workspace) -> None:
    """The check itself: the "Seen" fact as it used to be sent reads as broken markup."""
    old = mrkdwn("*Seen*\n7× (first &lt;!date^1795420800^{date_short_pretty} {time}|x&gt;)",
                 workspace)
    with pytest.raises(AssertionError):
        assert_reads_right(old, mentions=[])
    escaped_mention = mrkdwn("escalated by &lt;@U0APPROVER&gt;", workspace)
    with pytest.raises(AssertionError):
        assert_reads_right(escaped_mention, mentions=[])
    live = mrkdwn("path /<!channel>", workspace)
    with pytest.raises(AssertionError):
        assert_reads_right(live, mentions=[])
