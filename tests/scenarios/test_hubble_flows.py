"""Hubble flows, end to end: records encoded by Cilium's own types (the bench's generator) are
shipped to the flows topic of a real Kafka, ``chatbot serve`` judges them against the
ClientIntents in a real kube-apiserver (resolving pod owners there too), and what a person
sees is what the Slack stand-in received. One bot serves the whole module; each story has a
namespace of its own.

- an uncovered forwarded flow → one card; once a ClientIntents covers it → no card, counted;
- a policy drop → the card says denied-by-policy; an audit verdict → would-be-denied;
- a reply and a host flow → no card, each skip counted by its reason;
- one connection seen at both nodes → one card;
- a flow naming pods only → the card names the Deployment the apiserver says owns the pod;
- approve → the intent is in the cluster → later connections of the flow are covered;
- a network-mapper export imported → cards for the targets nobody approved only;
- malformed and hostile records → dead letters with a reason, nothing in Slack, the good
  flows beside them still make their cards;
- a batch whose store fails is read again and its flows still become cards.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text

from chatbot import cli_import
from chatbot.config.settings import settings_from_env
from chatbot.events.hubble_outcome import SkipReason
from chatbot.intents.coverage import IntentRef
from chatbot.slack.ids import ActionId
from chatbot.store.db import make_engine
from testbench.fixtures.kube import kube_api_client
from testbench.hubble_flows import Format
from testbench.kafka import KafkaBroker
from testbench.kube import KubeCluster
from testbench.slack import SlackStandin
from tests.cluster.objects import Objects
from tests.scenarios.harness import eventually
from tests.scenarios.hubble_harness import CART_POD, FlowsBot, Story, flows_bot, new_story

pytestmark = [pytest.mark.bench, pytest.mark.usefixtures("clientintents_crd")]

SKIPPED = "hubble_flows_skipped_total"
COVERED = "flows_covered_total"
LEDGER_INTENT = [{"kubernetes": {"name": "ledger", "kind": "StatefulSet"}}]


@pytest.fixture(scope="module")
async def hubble(tmp_path_factory: pytest.TempPathFactory, kafka_broker: KafkaBroker,
                 kube_cluster: KubeCluster, clientintents_crd: str,
                 hubble_generator: Path) -> AsyncIterator[FlowsBot]:
    async with SlackStandin(signing_secret=secrets.token_hex(16)) as slack:
        for channel in ("flow-alerts", "war-room"):
            slack.add_channel(channel)
        async with kube_api_client(kube_cluster.admin_kubeconfig) as kube, flows_bot(
                workdir=tmp_path_factory.mktemp("hubble-bot"), broker=kafka_broker,
                slack=slack, kube=kube, kubeconfig=kube_cluster.admin_kubeconfig,
                generator=hubble_generator) as flows:
            yield flows


@pytest.fixture
async def story(hubble: FlowsBot) -> Story:
    return await new_story(hubble)


async def test_an_uncovered_forwarded_flow_is_one_card(story: Story) -> None:
    await story.send(story.flow())
    [anomaly] = await story.cards(1)
    card = story.card_of(anomaly)
    assert f"Deployment {story.namespace}/cart" in card.text
    assert f"StatefulSet {story.namespace}/ledger" in card.text and "9090/TCP" in card.text
    assert "Reason\nno-intent" in card.text
    assert "Cluster\ndefault" in card.text  # CHATBOT_HUBBLE_CLUSTER's default
    assert card.buttons[:3] == ["Approve", "Block", "Escalate"]
    await story.flows.caught_up()
    assert len(story.shown()) == 1


async def test_the_same_flow_covered_by_a_client_intents_makes_no_card_and_is_counted(
        story: Story) -> None:
    await story.approved_by_hand("cart-by-hand", LEDGER_INTENT)
    await story.send(story.flow(), fmt=Format.OBSERVE_JSON_LEGACY)
    await story.counted_at_least(1, COVERED)
    await story.flows.caught_up()
    assert await story.anomalies() == []
    assert story.shown() == []
    assert await story.counted(COVERED) == 1


async def test_a_policy_drop_says_denied_by_policy_and_an_audit_would_be_denied(
        story: Story) -> None:
    await story.send(story.flow(verdict="DROPPED", drop_reason="POLICY_DENIED"),
                     story.flow(dport=9443, verdict="AUDIT"), fmt=Format.OBSERVE_JSON)
    cards = {story.card_of(anomaly).text for anomaly in await story.cards(2)}
    [denied] = [card for card in cards if "9090/TCP" in card]
    [audited] = [card for card in cards if "9443/TCP" in card]
    assert "Reason\ndenied-by-policy" in denied
    assert "Reason\nwould-be-denied" in audited


async def test_a_reply_and_a_host_flow_make_no_card_and_are_counted_by_reason(
        story: Story) -> None:
    reply = {"src": story.ledger(), "dst": story.cart(remote=True), "sport": 9090,
             "dport": 40000, "reply": True}
    from_host = {"src": {"reserved": "host"}, "dst": story.ledger(), "dport": 9090,
                 "direction": "INGRESS"}
    await story.send(reply, from_host, fmt=Format.OBSERVE_JSON_LEGACY)
    await story.counted_at_least(1, SKIPPED, reason=SkipReason.REPLY)
    await story.counted_at_least(1, SKIPPED, reason=SkipReason.SOURCE_HOST)
    await story.flows.caught_up()
    assert await story.anomalies() == [] and story.shown() == []


async def cart_and_ledger_in_the_cluster(story: Story) -> None:
    """The objects the apiserver holds for the story's workloads, owners linked as their
    controllers would link them (the bench runs no controllers)."""
    objects = Objects(story.bot.kube, story.namespace)
    deployment = await objects.deployment("cart")
    replica_set = await objects.replica_set("cart-5d8f7c9b6", deployment, "5d8f7c9b6")
    await objects.pod(CART_POD, replica_set)
    await objects.pod("ledger-0", await objects.stateful_set("ledger"))


async def test_one_connection_seen_at_both_nodes_is_one_card(story: Story) -> None:
    await cart_and_ledger_in_the_cluster(story)
    connection = {"dport": 9090, "sport": 45678}
    # Each node knows the workload only of its own side: the other side is remote there.
    at_client = {"src": story.cart(), "dst": story.ledger(remote=True), "node": "worker-a",
                 **connection}
    at_server = {"src": story.cart(remote=True), "dst": story.ledger(), "node": "worker-b",
                 "direction": "INGRESS", **connection}
    await story.send(at_client, at_server)
    [anomaly] = await story.cards(1)
    await story.counted_at_least(1, SKIPPED, reason=SkipReason.DUPLICATE)
    await story.flows.caught_up()
    assert len(story.shown()) == 1
    assert anomaly.event_count == 1


async def test_a_flow_naming_pods_only_is_carded_under_the_owner_the_apiserver_names(
        story: Story) -> None:
    await cart_and_ledger_in_the_cluster(story)
    await story.send({"src": story.cart(workload=None), "dst": story.ledger(remote=True),
                      "dport": 9090})
    [anomaly] = await story.cards(1)
    card = story.card_of(anomaly).text
    assert f"Deployment {story.namespace}/cart" in card
    assert f"StatefulSet {story.namespace}/ledger" in card
    assert CART_POD not in card


async def test_approved_flows_are_covered_afterwards_and_make_no_new_card(
        story: Story) -> None:
    await story.send(story.flow(sport=50000))
    [anomaly] = await story.cards(1)
    assert await story.bot.click(anomaly, ActionId.APPROVE) == 200
    await story.bot.state_is(anomaly.id, "applied")
    [written] = await story.bot.client_intents(story.namespace)
    assert LEDGER_INTENT[0] in written["spec"]["targets"]
    await story.index_holds(IntentRef(story.namespace, written["metadata"]["name"]))

    # Later connections of the same flow: new source ports, the same cart → ledger:9090.
    await story.send(story.flow(sport=50001), story.flow(sport=50002))
    await story.counted_at_least(2, COVERED)
    await story.flows.caught_up()
    assert [(a.id, a.event_count) for a in await story.anomalies()] == [(anomaly.id, 1)]
    assert len(story.shown()) == 1


EXPORT = """\
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata:
  name: cart
  namespace: {ns}
spec:
  workload:
    name: cart
    kind: Deployment
  targets:
    - kubernetes:
        name: ledger
        kind: StatefulSet
    - kubernetes:
        name: email
        kind: Deployment
"""


async def test_a_network_mapper_export_makes_cards_for_the_unapproved_targets_only(
        story: Story, tmp_path: Path) -> None:
    """tests/cli/test_import_intents.py shows what goes onto the topic; this is the rest of
    the way, through the running service to Slack."""
    await story.approved_by_hand("cart-by-hand", LEDGER_INTENT)
    export = tmp_path / "export.yaml"
    export.write_text(EXPORT.format(ns=story.namespace))
    top = argparse.ArgumentParser()
    cli_import.add_command(top.add_subparsers(dest="command"))
    settings = settings_from_env({
        "CHATBOT_KAFKA_BOOTSTRAP": story.bot.bootstrap, "CHATBOT_KAFKA_TOPIC": story.bot.topic,
        "CHATBOT_KUBECONFIG": str(story.bot.service.settings.kubeconfig)})
    assert await cli_import.run(top.parse_args(["import-intents", str(export)]), settings) == 0

    [anomaly] = await story.cards(1)
    card = story.card_of(anomaly).text
    assert f"Deployment {story.namespace}/email" in card and "Reason\nnew-connection" in card
    await story.flows.caught_up()
    assert len(await story.anomalies()) == 1 and len(story.shown()) == 1


def twisted(line: bytes, *path: str, value: object) -> bytes:
    """A real record with one field replaced: what a broken shipper or a hostile writer
    would send."""
    record = orjson.loads(line)
    node = record
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return orjson.dumps(record)


async def test_malformed_and_hostile_records_are_dead_letters_and_the_good_ones_cards(
        story: Story) -> None:
    good, other_good, real = story.lines([story.flow(), story.flow(dport=9091),
                                          story.flow(dport=9092)])
    huge_labels, not_a_name = story.lines([
        story.flow(src=story.cart(raw_labels=[f"k8s:team-{n}=x" for n in range(400)])),
        story.flow(src=story.cart(pod="<!channel>"))])
    hostile = {
        "truncated": (real[:150], "malformed JSON"),
        "source not an object": (twisted(real, "flow", "source", value="oops"),
                                 "'flow.source' must be an object"),
        "time a number": (twisted(real, "flow", "time", value=5), "RFC 3339"),
        "huge label list": (huge_labels, "over 256"),
        "pod not a name": (not_a_name, "not a DNS-1123 name"),
        "not JSON": (b"flow=" + real, "malformed JSON"),
    }
    bad_before = await bad_events(story.flows)
    await story.send(good, *(record for record, _ in hostile.values()), other_good)

    letters = {letter.value: letter for letter in await story.dead_letters(len(hostile))}
    for name, (record, reason) in hostile.items():
        assert reason in letters[record].reason, name
    assert set(letters) == {record for record, _ in hostile.values()}  # unchanged

    async def counted() -> bool:  # counted once the batch is stored, just after the letters
        return await bad_events(story.flows) - bad_before == len(hostile)
    await eventually(counted, what="bad_events_total up by one per hostile record")

    cards = [story.card_of(anomaly) for anomaly in await story.cards(2)]
    assert sorted(port for card in cards for port in ("9090/TCP", "9091/TCP")
                  if port in card.text) == ["9090/TCP", "9091/TCP"]
    await story.flows.caught_up()
    assert len(story.shown()) == 2
    assert not [shown for shown in story.flows.slack.shown("flow-alerts")
                if "@channel" in shown.mentions]
    assert story.bot.service.pipeline is not None
    assert story.bot.service.pipeline.consumer.healthy  # still consuming


async def bad_events(flows: FlowsBot) -> float:
    return sum(value for (name, _), value in (await flows.metrics()).items()
               if name == "bad_events_total")


async def test_a_batch_whose_store_fails_is_read_again_and_its_flows_still_become_cards(
        story: Story) -> None:
    """The connection dedup forgets what a failed batch taught it: read again, the batch's
    first sightings are first sightings again (and its skips are counted once)."""
    await story.flows.caught_up()  # partitions claimed: what fails now is storing
    engine = make_engine(story.flows.database_url)
    try:
        async with engine.begin() as connection:  # the store goes away for a while
            await connection.execute(text(
                "ALTER TABLE consumer_offsets RENAME TO consumer_offsets_away"))
        failures = await story.counted("store_failures_total")
        await story.send(story.flow(sport=41000),
                         story.flow(sport=41000, event="policy-verdict"),  # the same connection
                         story.flow(dport=9091))
        await story.counted_at_least(failures + 2, "store_failures_total")
        assert await story.anomalies() == []
        async with engine.begin() as connection:
            await connection.execute(text(
                "ALTER TABLE consumer_offsets_away RENAME TO consumer_offsets"))
    finally:
        await engine.dispose()

    cards = await story.cards(2)
    assert sorted(anomaly.target["port"] for anomaly in cards) == [9090, 9091]
    await story.flows.caught_up()
    assert len(story.shown()) == 2
    assert await story.counted(SKIPPED, reason=SkipReason.DUPLICATE) == 1
