"""Bad input at volume: thousands of malformed and hostile records mixed into a stream of
valid events. Every bad record lands on the dead-letter topic, byte for byte, with its reason;
the consumer never stops; nothing bad reaches Slack; the valid events — one of them with
mention markup in its HTTP path — get their cards, with the markup shown, not obeyed."""

from __future__ import annotations

import json
import random
from collections import Counter

import orjson
from kubernetes_asyncio.client import ApiClient

from chatbot.events.fingerprint import fingerprint
from chatbot.events.parse import parse_event
from chatbot.pipeline.dead_letter import REASON_HEADER, SOURCE_HEADER
from testbench.flow_stream import Event, Stream, produce
from testbench.kube import KubeCluster
from tests.faults.conftest import FaultRun, FaultRunFactory
from tests.faults.corpus import corpus
from tests.pipeline.kafka_io import read_topic

BAD_RECORDS = 3000
VALID_EVENTS = 100
SEED = 11
MARKUP = "/<!channel>/<@U0OWNER>/<!here|here>"


async def test_thousands_of_bad_records_are_dead_lettered_and_the_good_ones_get_through(
        fault_run: FaultRunFactory, postgres_url: str, kube_cluster: KubeCluster,
        kube_admin_client: ApiClient) -> None:
    async with fault_run(database_url=postgres_url, kubeconfig=kube_cluster.admin_kubeconfig,
                         kube=kube_admin_client, flows=12, lanes=4) as run:
        service = run.service()
        service.start()
        await service.listening()
        bad = corpus(BAD_RECORDS, seed=SEED)
        good = with_markup_in_a_path(run, run.stream(VALID_EVENTS, seed=SEED))
        records = [*bad, *(event.value for event in good.events)]
        random.Random(SEED).shuffle(records)
        await produce(run.broker.bootstrap, run.topic, records)
        good.sent = len(good.events)

        dead = await read_topic(run.broker.bootstrap, run.env["CHATBOT_KAFKA_DLQ_TOPIC"],
                                BAD_RECORDS)
        assert Counter(record.value for record in dead) == Counter(bad)
        assert all(record.headers[REASON_HEADER] and record.headers[SOURCE_HEADER]
                   for record in dead)
        await run.settled(good, within=60)
        assert await service.metric("bad_events_total") == BAD_RECORDS
        assert await service.metric("events_consumed_total") == VALID_EVENTS + 1
        await service.ready_is(True, within=10)
        assert service.alive() and service.lives == 1
        assert "Traceback" not in service.this_life()
        result = await run.tally(good)
        assert result.ok, result.explain()
        assert result.cards_posted == len(run.flows.flows) + 1
        assert await markup_is_shown_never_obeyed(run)


def with_markup_in_a_path(run: FaultRun, events: Stream) -> Stream:
    """One more valid event whose HTTP path is mention markup (valid: printable, no spaces).
    Flow 0 is an in-cluster HTTP call, so only its target's name and path change."""
    doc = run.flows.flows[0].event(f"{run.flows.prefix}-markup", 1)
    doc["target"] = {**doc["target"], "name": "markup",
                     "http": {"path": MARKUP, "method": "GET"}}
    value = orjson.dumps(doc)
    events.events.append(Event(doc["event_id"], fingerprint(parse_event(value)), 1, value))
    return events


async def markup_is_shown_never_obeyed(run: FaultRun) -> bool:
    shown = "".join([json.dumps(await run.standin.messages(channel))
                     for channel in run.channels])
    assert "&lt;!channel&gt;" in shown, "the markup path should be visible in a card"
    for live in ("<!channel>", "<!here", "<@U0OWNER>"):
        assert live not in shown, f"{live} reached Slack unescaped"
    return True
