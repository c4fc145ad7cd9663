"""Per-target provenance: every approval that adds to an object is recorded under its own
annotation — approver, quorum votes, time, justification, what it asked for and what it
added — and later merges never overwrite an earlier approval's record."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chatbot.events.model import HttpCall, KubernetesTarget, Workload
from chatbot.intents.document import APPROVED_BY, ApprovalNote, merge, target_entry
from chatbot.intents.provenance import MAX_WHY_CHARS, grant_key, read_grants

CHECKOUT = Workload(name="checkout", namespace="shop", kind="Deployment")
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def service(name: str, http: HttpCall | None = None) -> KubernetesTarget:
    return KubernetesTarget(name=name, namespace="shop", kind="Service", port=80,
                            protocol="TCP", http=http)


def test_two_approvals_on_one_object_keep_both_approvers() -> None:
    first = merge(None, client=CHECKOUT, entry=target_entry(CHECKOUT, service("cart")),
                  note=ApprovalNote("a-1", "U0ALICE", T0, justification="checkout needs cart"))
    second = merge(first.document, client=CHECKOUT,
                   entry=target_entry(CHECKOUT, service("ledger", HttpCall("/pay", "POST"))),
                   note=ApprovalNote("a-2", "U0CAROL", T0.replace(hour=10),
                                     votes=("U0BOB", "U0CAROL"), justification="INC-42"))

    annotations = second.document["metadata"]["annotations"]
    assert annotations[APPROVED_BY] == "U0CAROL"  # the object-wide "last approval"
    one, two = (json.loads(annotations[grant_key(i)]) for i in ("a-1", "a-2"))
    assert one == {"anomaly": "a-1", "by": "U0ALICE", "at": "2026-11-24T09:00:00Z",
                   "why": "checkout needs cart", "target": {"service": {"name": "cart"}},
                   "added": [{"service": {"name": "cart"}}]}
    assert two["by"] == "U0CAROL" and two["votes"] == ["U0BOB", "U0CAROL"]
    assert two["why"] == "INC-42" and two["at"] == "2026-11-24T10:00:00Z"
    assert two["added"] == [{"service": {"name": "ledger", "http": [
        {"path": "/pay", "methods": ["POST"]}]}}]
    assert set(read_grants(second.document)) == {"a-1", "a-2"}


def test_a_merge_into_an_entry_records_only_what_it_added() -> None:
    doc = merge(None, client=CHECKOUT,
                entry=target_entry(CHECKOUT, service("ledger", HttpCall("/pay", "GET"))),
                note=ApprovalNote("a-1", "U0ALICE", T0)).document
    doc = merge(doc, client=CHECKOUT,
                entry=target_entry(CHECKOUT, service("ledger", HttpCall("/pay", "POST"))),
                note=ApprovalNote("a-2", "U0BOB", T0)).document
    assert read_grants(doc)["a-2"].added == ({"service": {"name": "ledger", "http": [
        {"path": "/pay", "methods": ["POST"]}]}},)


def test_a_long_justification_is_cut_in_the_annotation_and_a_broken_record_ignored() -> None:
    doc = merge(None, client=CHECKOUT, entry=target_entry(CHECKOUT, service("cart")),
                note=ApprovalNote("a-1", "U0ALICE", T0, justification="x" * 900)).document
    assert len(json.loads(doc["metadata"]["annotations"][grant_key("a-1")])["why"]) == \
        MAX_WHY_CHARS
    doc["metadata"]["annotations"][grant_key("a-9")] = "{not json"
    assert set(read_grants(doc)) == {"a-1"}
