"""Someone merges a GitOps change by hand: a ClientIntents the bot did not write appears in the
cluster and allows a flow whose card is waiting. Through real Kafka, the real apiserver and the
Slack stand-in, the card resolves itself — its message updated in place with the new text and
no buttons, the system's action in the audit, nothing written to the cluster by the bot, and
the flow gone from the approver's queue while its uncovered sibling stays.

The service's own ClientIntents watch notices the object; its coverage resolver resolves the
card and wakes the outbox."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from chatbot.intents.document import GROUP, VERSION
from chatbot.intents.kubernetes import PLURAL
from chatbot.slack.ids import SnoozeId
from testbench.slack import Shown, SlackStandin
from testbench.slack.signing import post_signed, slash_command_body
from tests.scenarios.harness import OWNER, Bot, eventually, flow_event

SNOOZE = [snooze.label for snooze in SnoozeId]


def by_hand(namespace: str) -> dict[str, Any]:
    """What a person merged into the GitOps repository: web may call game-api."""
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ClientIntents",
            "metadata": {"name": "web-gitops", "namespace": namespace},
            "spec": {"workload": {"name": "web", "kind": "Deployment"},
                     "targets": [{"kubernetes": {"name": "game-api"}}]}}


def card_of(slack: SlackStandin, ts: str) -> Shown:
    [shown] = [s for s in slack.shown("flow-alerts") if s.ts == ts]
    return shown


async def test_a_clientintents_someone_else_creates_resolves_the_waiting_card(
        bot: Bot, kube_namespace: str, slack_standin: SlackStandin) -> None:
    ns = kube_namespace
    slack_standin.add_user("owner", user_id=OWNER)
    await bot.send(flow_event(client_ns=ns, target="game-api"),
                   flow_event(client_ns=ns, target="leaderboard"))
    posted = await bot.card_posted(count=2)
    game = next(a for a in posted if a.target["name"] == "game-api")
    sibling = next(a for a in posted if a.target["name"] == "leaderboard")
    assert game.slack_ts and game.slack_channel_id
    pending = card_of(slack_standin, game.slack_ts)
    assert pending.buttons == ["Approve", "Block", "Escalate", *SNOOZE]

    await client.CustomObjectsApi(bot.kube).create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, by_hand(ns))
    covered = await bot.state_is(game.id, "covered")

    def updated() -> Shown:
        return card_of(slack_standin, game.slack_ts or "")

    async def shows_it() -> bool:
        return "no decision needed" in updated().text
    await eventually(shows_it, what="the card updated in place")

    resolved = updated()
    assert f"Now covered by ClientIntents {ns}/web-gitops; no decision needed" in resolved.text
    assert ("code", f"{ns}/web-gitops") in resolved.styled
    assert resolved.buttons == [] and resolved.mentions == []
    assert "What Approve opens" not in resolved.text
    assert [c for c in slack_standin.calls("chat.update")
            if c.params.get("ts") == game.slack_ts], "the message was updated, not re-posted"
    assert len([s for s in slack_standin.shown("flow-alerts") if not s.is_reply]) == 2

    assert covered.covered_by == f"{ns}/web-gitops" and covered.decided_by is None
    assert ("system", "covered", "ok") in await bot.audit(game.id)
    assert [entry for entry in await bot.audit(game.id) if entry[1] == "covered"] == [
        ("system", "covered", "ok")]
    # The bot wrote nothing: the cluster holds only the object someone else created.
    [only] = await bot.client_intents(ns)
    assert only["metadata"]["name"] == "web-gitops"
    assert "app.kubernetes.io/managed-by" not in (only["metadata"].get("labels") or {})

    # The uncovered sibling still waits; the approver's queue lists only it.
    assert (await bot.anomaly(sibling.id)).state == "pending"
    body = slash_command_body(command="/flows", text="", user_id=OWNER,
                              channel_id=game.slack_channel_id)
    assert (await post_signed(bot.url, body, bot.secret))[0] == 200

    async def answered() -> bool:
        return bool(slack_standin.ephemerals())
    await eventually(answered, what="the /flows answer")
    [queue] = slack_standin.shown_ephemerals()
    assert "1 pending flow(s) you may decide" in queue.text
    assert "leaderboard" in queue.text and "game-api" not in queue.text
