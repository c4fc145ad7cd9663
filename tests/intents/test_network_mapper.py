"""``otterize network-mapper export`` output -> new-connection events. The samples follow the
CLI's output byte for byte in layout: YAML from its v2 and v1 printers (documents joined by
``---``, no trailing newline) and JSON from ``json.MarshalIndent`` of the v2beta1 objects
(``creationTimestamp: null``, an empty status). otterize-cli is not on the Go module proxy
here, so its printer could not be built like the Hubble generator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatbot.events.encode import event_json
from chatbot.events.model import (
    HttpCall,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Reason,
    Target,
    Workload,
)
from chatbot.events.parse import parse_event
from chatbot.intents.coverage import CoverageIndex, IntentRef
from chatbot.intents.network_mapper import BadExport, parse_export

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

V2_YAML = """\
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata:
  name: checkoutservice
  namespace: ecom
spec:
  workload:
    name: checkoutservice
    kind: Deployment
  targets:
    - kubernetes:
        name: cartservice
        kind: Deployment
    - kubernetes:
        name: emailservice
        kind: Deployment
        http:
          - path: /send
            methods:
              - POST
              - PUT
    - service:
        name: kubernetes.default
    - kafka:
        name: kafka.streaming
        topics:
          - name: orders
            operations:
              - produce
              - describe
---
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata:
  name: frontend
  namespace: ecom
spec:
  workload:
    name: frontend
    kind: StatefulSet
  targets:
    - kubernetes:
        name: adservice
        kind: Deployment
    - kubernetes:
        name: ledger.billing
        kind: StatefulSet"""

V1_YAML = """\
apiVersion: k8s.otterize.com/v1alpha3
kind: ClientIntents
metadata:
  name: checkoutservice
  namespace: ecom
spec:
  service:
    name: checkoutservice
  calls:
    - name: cartservice
    - name: emailservice
      type: http
      HTTPResources:
        - path: /send
          methods:
            - POST
            - PUT
    - name: kafka.streaming
      type: kafka
      kafkaTopics:
        - name: orders
          operations:
            - produce
            - describe
"""

V2_JSON = """\
[
  {
    "kind": "ClientIntents",
    "apiVersion": "k8s.otterize.com/v2beta1",
    "metadata": {
      "name": "checkoutservice",
      "namespace": "ecom",
      "creationTimestamp": null
    },
    "spec": {
      "workload": {
        "name": "checkoutservice",
        "kind": "Deployment"
      },
      "targets": [
        {
          "kubernetes": {
            "name": "cartservice",
            "kind": "Deployment"
          }
        },
        {
          "internet": {
            "domains": [
              "api.github.com"
            ],
            "ports": [
              443
            ]
          }
        }
      ]
    },
    "status": {
      "upToDate": false,
      "observedGeneration": 0
    }
  }
]"""

CHECKOUT = Workload(name="checkoutservice", namespace="ecom", kind="Deployment")


def targets(text: str, client: Workload = CHECKOUT, **options: str) -> list[Target]:
    result = parse_export(text, cluster="prod", observed_at=NOW, **options)
    assert all(event.reason is Reason.NEW_CONNECTION and event.observed_at == NOW
               and event.cluster == "prod" for event in result.events)
    return [event.target for event in result.events if event.client == client]


def test_the_v2_yaml_export_becomes_one_event_per_nameable_access() -> None:
    assert targets(V2_YAML) == [
        KubernetesTarget("cartservice", "ecom", "Deployment", None, None),
        KubernetesTarget("emailservice", "ecom", "Deployment", None, None,
                         HttpCall("/send", "POST")),
        KubernetesTarget("emailservice", "ecom", "Deployment", None, None,
                         HttpCall("/send", "PUT")),
        KubernetesTarget("kubernetes", "default", "Service", None, None),
        KafkaTarget("kafka", "streaming", "orders", "produce"),
        KafkaTarget("kafka", "streaming", "orders", "describe"),
    ]
    frontend = Workload(name="frontend", namespace="ecom", kind="StatefulSet")
    assert targets(V2_YAML, frontend) == [
        KubernetesTarget("adservice", "ecom", "Deployment", None, None),
        KubernetesTarget("ledger", "billing", "StatefulSet", None, None)]


def test_the_v1_yaml_export_reads_like_its_v2_conversion() -> None:
    v1 = targets(V1_YAML)
    assert v1 == [
        KubernetesTarget("cartservice", "ecom", None, None, None),
        KubernetesTarget("emailservice", "ecom", None, None, None, HttpCall("/send", "POST")),
        KubernetesTarget("emailservice", "ecom", None, None, None, HttpCall("/send", "PUT")),
        KafkaTarget("kafka", "streaming", "orders", "produce"),
        KafkaTarget("kafka", "streaming", "orders", "describe"),
    ]
    # v1 exports carry no kinds: the client's is assumed, and can be chosen.
    stateful = Workload(name="checkoutservice", namespace="ecom", kind="StatefulSet")
    assert targets(V1_YAML, stateful, default_kind="StatefulSet") == v1


def test_the_json_export_and_a_v2alpha1_list() -> None:
    assert targets(V2_JSON) == [
        KubernetesTarget("cartservice", "ecom", "Deployment", None, None),
        InternetTarget("api.github.com", None, 443, None)]
    as_list = V2_YAML.replace("v2beta1", "v2alpha1").split("---")[1]
    listed = "apiVersion: v1\nkind: List\nitems:\n" + "\n".join(
        "  " + line if index else "- " + line
        for index, line in enumerate(as_list.strip().splitlines()))
    frontend = Workload(name="frontend", namespace="ecom", kind="StatefulSet")
    assert len(targets(listed, frontend)) == 2


def test_events_are_schema_v1_events_and_stable_across_imports() -> None:
    first = parse_export(V2_YAML, cluster="prod", observed_at=NOW).events
    again = parse_export(V2_YAML, cluster="prod", observed_at=NOW).events
    assert [event.event_id for event in first] == [event.event_id for event in again]
    assert len({event.event_id for event in first}) == len(first)
    for event in first:
        assert parse_event(event_json(event)) == event


def test_only_the_targets_no_approved_intent_covers_remain() -> None:
    index = CoverageIndex()
    index.replace_all([(IntentRef("ecom", "checkoutservice"), {
        "apiVersion": "k8s.otterize.com/v2beta1", "kind": "ClientIntents",
        "metadata": {"name": "checkoutservice", "namespace": "ecom"},
        "spec": {"workload": {"name": "checkoutservice", "kind": "Deployment"}, "targets": [
            {"kubernetes": {"name": "cartservice"}},
            {"kafka": {"name": "kafka.streaming", "topics": [
                {"name": "orders", "operations": ["all"]}]}}]}})])
    events = parse_export(V2_YAML, cluster="prod", observed_at=NOW).events
    uncovered = [event.target for event in events
                 if event.client == CHECKOUT and not index.covers(event)]
    assert uncovered == [
        KubernetesTarget("emailservice", "ecom", "Deployment", None, None,
                         HttpCall("/send", "POST")),
        KubernetesTarget("emailservice", "ecom", "Deployment", None, None,
                         HttpCall("/send", "PUT")),
        KubernetesTarget("kubernetes", "default", "Service", None, None)]


def test_what_cannot_be_imported_is_reported_and_the_rest_goes_on() -> None:
    text = V2_YAML + """
---
apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata:
  name: odd
  namespace: ecom
spec:
  workload:
    name: odd
  targets:
    - kubernetes:
        name: Not_A_Name
    - kafka:
        name: kafka.streaming
    - kubernetes:
        name: search
        http:
          - path: /query
    - sql:
        name: orders-db
    - internet:
        ips: [not-an-ip]
    - service:
        name: search
        http:
          - path: /q
            methods: [FETCH]
---
kind: ConfigMap
metadata: {name: settings}
"""
    result = parse_export(text, cluster="prod", observed_at=NOW)
    odd = Workload(name="odd", namespace="ecom", kind="Deployment")
    assert [event.target for event in result.events if event.client == odd] == [
        KubernetesTarget("search", "ecom", None, None, None)]
    problems = "\n".join(result.problems)
    for expected in ("'Not_A_Name' is not name or name.namespace", "lists no topics",
                     "path /query lists no methods", "'not-an-ip' is not an IP",
                     "'FETCH' is not one Otterize accepts", "document 4: kind is 'ConfigMap'"):
        assert expected in problems
    assert result.documents == 3


@pytest.mark.parametrize("text", ["{unclosed: [", b"\xff\xfe", "- [1, 2\n"])
def test_a_file_that_is_not_yaml_or_json_is_refused(text: str | bytes) -> None:
    with pytest.raises(BadExport):
        parse_export(text, cluster="prod", observed_at=NOW)
