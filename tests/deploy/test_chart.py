"""The Helm chart on paper: it lints and renders for the defaults and the production values,
refuses configurations that cannot work, hardens the pod, grants only ClientIntents (and, for
Hubble flows, `get` on the pods' owners), and never carries a secret value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from chatbot.config.load import rules_from_document
from tests.deploy.chart import (
    CHART,
    PRODUCTION_VALUES,
    container,
    env_of,
    lint,
    of_kind,
    one,
    render,
    template,
)

SECRET_ENV = {"CHATBOT_SLACK_BOT_TOKEN", "CHATBOT_SLACK_SIGNING_SECRET", "CHATBOT_SLACK_APP_TOKEN",
              "CHATBOT_KAFKA_SASL_PASSWORD", "CHATBOT_REDIS_URL"}
CLIENTINTENTS_RULE = {"apiGroups": ["k8s.otterize.com"], "resources": ["clientintents"],
                      "verbs": ["get", "list", "watch", "create", "update", "patch"]}
CLIENTINTENTS_READ_RULE = {"apiGroups": ["k8s.otterize.com"], "resources": ["clientintents"],
                           "verbs": ["get", "list", "watch"]}
# Pod -> ReplicaSet -> Deployment and Pod -> Job -> CronJob, for flows that name only a pod.
OWNER_RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
               {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get"]},
               {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]}]
FLOWS = {"kafka.flowsTopic": "hubble-flows"}


@pytest.mark.parametrize("values", [(), (PRODUCTION_VALUES,)], ids=["defaults", "production"])
def test_helm_lint_and_template_pass(helm_binary: Path, values: tuple[Path, ...]) -> None:
    linted = lint(helm_binary, values=values)
    assert linted.returncode == 0, linted.output
    rendered = template(helm_binary, values=values)
    assert rendered.returncode == 0, rendered.output


def test_the_defaults_install_one_sqlite_replica_over_http(helm_binary: Path) -> None:
    manifests = render(helm_binary)
    assert {m["kind"] for m in manifests} == {
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Service",
        "Deployment", "PersistentVolumeClaim"}
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    env = env_of(container(deployment))
    assert env["CHATBOT_DATABASE_URL"]["value"] == "sqlite+aiosqlite:////data/chatbot.db"
    assert "CHATBOT_SLACK_APP_TOKEN" not in env and "CHATBOT_REDIS_URL" not in env


def test_production_values_run_three_replicas_on_postgresql_and_redis(helm_binary: Path) -> None:
    manifests = render(helm_binary, values=[PRODUCTION_VALUES])
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    env = env_of(container(deployment))
    for name in ("CHATBOT_DATABASE_URL", "CHATBOT_REDIS_URL", "CHATBOT_KAFKA_SASL_PASSWORD"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "flow-approval-chatbot"
    assert env["CHATBOT_KAFKA_SSL_CAFILE"]["value"] == "/etc/chatbot/kafka-ca/ca.crt"
    job = one(manifests, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    migrate = job["spec"]["template"]["spec"]["containers"][0]
    assert migrate["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert one(manifests, "ServiceMonitor")["spec"]["endpoints"][0]["path"] == "/metrics"
    assert not of_kind(manifests, "PersistentVolumeClaim")


@pytest.mark.parametrize(("sets", "message"), [
    ({"replicaCount": "3"}, "replicaCount > 1 needs database.type=postgresql"),
    ({"replicaCount": "2", "database.type": "postgresql"}, "replicaCount > 1 needs redis.enabled"),
    ({"database.type": "mysql"}, "database.type must be sqlite or postgresql"),
    ({"rbac.scope": "namespaces"}, "needs at least one namespace"),
])
def test_configurations_that_cannot_work_are_refused_with_a_reason(
        helm_binary: Path, sets: dict[str, str], message: str) -> None:
    run = template(helm_binary, sets=sets)
    assert run.returncode != 0 and message in run.output, run.output


def test_the_pod_is_hardened_and_probed(helm_binary: Path) -> None:
    for manifests in (render(helm_binary), render(helm_binary, values=[PRODUCTION_VALUES])):
        deployment = one(manifests, "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        chatbot = container(deployment)
        hardening = chatbot["securityContext"]
        assert hardening["readOnlyRootFilesystem"] is True
        assert hardening["allowPrivilegeEscalation"] is False
        assert hardening["capabilities"] == {"drop": ["ALL"]}
        assert hardening["seccompProfile"] == {"type": "RuntimeDefault"}
        assert chatbot["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert chatbot["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert chatbot["resources"]["requests"] and chatbot["resources"]["limits"]
        tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp
        scratch = "/tmp"  # noqa: S108 - the emptyDir the read-only root filesystem needs
        assert {"name": "tmp", "mountPath": scratch} in chatbot["volumeMounts"]


def test_rbac_grants_clientintents_and_nothing_else(helm_binary: Path) -> None:
    cluster = render(helm_binary)
    assert one(cluster, "ClusterRole")["rules"] == [CLIENTINTENTS_RULE]
    scoped = render(helm_binary, sets={"rbac.scope": "namespaces",
                                       "rbac.namespaces": "{team-a,team-b}"})
    # Writes only in the listed namespaces; the coverage index still watches every one.
    reader = one(scoped, "ClusterRole")
    assert reader["metadata"]["name"] == "chatbot-flow-approval-chatbot-read"
    assert reader["rules"] == [CLIENTINTENTS_READ_RULE]
    assert one(scoped, "ClusterRoleBinding")["roleRef"]["name"] == reader["metadata"]["name"]
    roles = of_kind(scoped, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert all(r["rules"] == [CLIENTINTENTS_RULE] for r in roles)
    bindings = of_kind(scoped, "RoleBinding")
    assert all(b["subjects"] == [{"kind": "ServiceAccount", "name": "chatbot-flow-approval-chatbot",
                                  "namespace": "flow-approval"}] for b in bindings)


def test_a_flows_topic_reads_hubble_flows_and_may_look_up_pod_owners(
        helm_binary: Path) -> None:
    off = render(helm_binary)
    assert not {"CHATBOT_KAFKA_FLOWS_TOPIC", "CHATBOT_HUBBLE_CLUSTER",
                "CHATBOT_HUBBLE_INCLUDE_DNS"} & env_of(container(one(off, "Deployment"))).keys()
    on = render(helm_binary, sets={**FLOWS, "hubble.cluster": "prod-eu"})
    env = env_of(container(one(on, "Deployment")))
    assert env["CHATBOT_KAFKA_FLOWS_TOPIC"] == {"name": "CHATBOT_KAFKA_FLOWS_TOPIC",
                                                "value": "hubble-flows"}
    assert env["CHATBOT_HUBBLE_CLUSTER"]["value"] == "prod-eu"
    assert env["CHATBOT_HUBBLE_INCLUDE_DNS"]["value"] == "false"
    dns = render(helm_binary, sets={**FLOWS, "hubble.includeDns": "true"})
    assert env_of(container(one(dns, "Deployment")))["CHATBOT_HUBBLE_INCLUDE_DNS"][
        "value"] == "true"
    # get, never list: the service asks for the pods flows name, it does not browse.
    assert one(on, "ClusterRole")["rules"] == [CLIENTINTENTS_RULE, *OWNER_RULES]


def test_owner_look_ups_stay_cluster_wide_when_writes_are_namespaced(helm_binary: Path) -> None:
    scoped = render(helm_binary, sets={**FLOWS, "rbac.scope": "namespaces",
                                       "rbac.namespaces": "{team-a}"})
    assert one(scoped, "ClusterRole")["rules"] == [CLIENTINTENTS_READ_RULE, *OWNER_RULES]
    assert one(scoped, "Role")["rules"] == [CLIENTINTENTS_RULE]
    # The directory sink keeps its coverage index from files: only the owners are read.
    directory = render(helm_binary, sets={**FLOWS, "rbac.scope": "namespaces",
                                          "rbac.namespaces": "{team-a}",
                                          "intents.sink": "directory:/intents"})
    assert one(directory, "ClusterRole")["rules"] == OWNER_RULES
    nothing_read = render(helm_binary, sets={"rbac.scope": "namespaces",
                                             "rbac.namespaces": "{team-a}",
                                             "intents.sink": "directory:/intents"})
    assert not of_kind(nothing_read, "ClusterRole")
    assert not of_kind(nothing_read, "ClusterRoleBinding")


def test_the_networkpolicy_format_already_holds_the_owner_look_ups(helm_binary: Path) -> None:
    rules = one(render(helm_binary, sets={"intents.format": "networkpolicy"}),
                "ClusterRole")["rules"]
    with_flows = one(render(helm_binary, sets={**FLOWS, "intents.format": "networkpolicy"}),
                     "ClusterRole")["rules"]
    assert with_flows == rules
    granted = {(group, resource) for rule in rules if "get" in rule["verbs"]
               for group in rule["apiGroups"] for resource in rule["resources"]}
    assert {("", "pods"), ("apps", "replicasets"), ("batch", "jobs")} <= granted


def test_secrets_are_only_referenced_never_rendered(helm_binary: Path) -> None:
    for manifests in (render(helm_binary, sets={"slack.mode": "socket", "redis.enabled": "true"}),
                      render(helm_binary, values=[PRODUCTION_VALUES])):
        assert not of_kind(manifests, "Secret")
        env = env_of(container(one(manifests, "Deployment")))
        for name in SECRET_ENV & env.keys():
            assert "value" not in env[name] and "secretKeyRef" in env[name]["valueFrom"], name
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert all(ref["name"] == "" for ref in defaults["secret"]["keys"].values())


def test_socket_mode_reads_the_app_token(helm_binary: Path) -> None:
    env = env_of(container(one(render(helm_binary, sets={"slack.mode": "socket"}), "Deployment")))
    assert env["CHATBOT_SLACK_APP_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "slack-app-token"


def test_the_rules_configmap_is_a_valid_rules_file(helm_binary: Path) -> None:
    for values in ((), (PRODUCTION_VALUES,)):
        configmap = one(render(helm_binary, values=values), "ConfigMap")
        rules = rules_from_document(yaml.safe_load(configmap["data"]["rules.yaml"]))
        assert rules.default_channel == "flow-alerts"


def test_the_ingress_exposes_only_the_slack_endpoint(helm_binary: Path) -> None:
    ingress = one(render(helm_binary, values=[PRODUCTION_VALUES]), "Ingress")
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/slack/events", "Exact")]


def test_every_value_is_documented() -> None:
    missing = undocumented_values((CHART / "values.yaml").read_text())
    assert not missing, f"values.yaml keys without a comment: {missing}"


def undocumented_values(text: str) -> list[str]:
    """Leaf keys with no comment right above them or above one of their parent keys."""
    parents: list[tuple[int, bool, str]] = []  # indent, documented, key
    comment_above = False
    missing = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            comment_above = True
            continue
        key = _KEY.match(line)
        if key is not None:
            indent = len(key["indent"])
            while parents and parents[-1][0] >= indent:
                parents.pop()
            documented = comment_above or any(doc for _, doc, _ in parents)
            if key["value"].strip() and not documented:
                missing.append(".".join([name for *_, name in parents] + [key["key"]]))
            parents.append((indent, documented, key["key"]))
        comment_above = False
    return missing


_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][\w.-]*):(?P<value>.*)$")


def test_the_documentation_check_finds_a_bare_key() -> None:
    assert undocumented_values("# -- all of it\na:\n  b: 1\nc:\n  # -- d\n  d: 2\n  e: 3\n") == [
        "c.e"]


def test_an_install_without_an_image_or_approvers_is_refused_saying_what_to_give(
        helm_binary: Path) -> None:
    bare = template(helm_binary, required=False, sets={
        "rules.approvers[0].namespaces[0]": "*", "rules.approvers[0].users[0]": "U0OWNER"})
    assert bare.returncode != 0
    assert "image.repository is required: the registry and name you pushed the image to" \
        in bare.output
    nobody = template(helm_binary, required=False, sets={"image.repository": "r.example/bot"})
    assert nobody.returncode != 0
    assert "rules.approvers is empty: nobody could approve any flow" in nobody.output
    # Rules kept in a ConfigMap of one's own are checked by `chatbot check-config`, not here.
    own = template(helm_binary, required=False, sets={"image.repository": "r.example/bot",
                                                      "existingRulesConfigMap": "my-rules"})
    assert own.returncode == 0, own.output


def test_the_deployment_runs_the_image_that_was_pushed(helm_binary: Path) -> None:
    deployment = one(render(helm_binary, sets={"image.tag": "0.1.0"}), "Deployment")
    assert container(deployment)["image"] == \
        "registry.example.com/platform/flow-approval-chatbot:0.1.0"
    production = one(render(helm_binary, values=[PRODUCTION_VALUES]), "Deployment")
    assert container(production)["image"] == \
        "registry.example.com/platform/flow-approval-chatbot:0.1.0"


def test_each_pod_joins_the_group_under_its_own_name(helm_binary: Path) -> None:
    env = env_of(container(one(render(helm_binary), "Deployment")))
    assert env["CHATBOT_KAFKA_GROUP_INSTANCE_ID"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.name"}}
    dynamic = env_of(container(one(render(helm_binary, sets={
        "kafka.staticMembership": "false"}), "Deployment")))
    assert "CHATBOT_KAFKA_GROUP_INSTANCE_ID" not in dynamic


def test_editing_the_rules_changes_the_pod_template(helm_binary: Path) -> None:
    def checksum(sets: dict[str, str]) -> str:
        deployment = one(render(helm_binary, sets=sets), "Deployment")
        annotation: str = deployment["spec"]["template"]["metadata"]["annotations"][
            "checksum/rules"]
        return annotation
    assert checksum({}) != checksum({"rules.escalation.pending_timeout": "1h"})


def test_the_bots_own_network_policy_allows_what_it_dials_and_nothing_else(
        helm_binary: Path) -> None:
    default = one(render(helm_binary, sets={"networkPolicy.enabled": "true"}), "NetworkPolicy")
    spec = default["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "flow-approval-chatbot"
    assert spec["ingress"] == [{"ports": [{"port": 3000, "protocol": "TCP"}]}]
    ports = [sorted((p["port"], p["protocol"]) for p in rule["ports"]) for rule in spec["egress"]]
    assert ports == [[(53, "TCP"), (53, "UDP")],           # DNS
                     [(9092, "TCP"), (9093, "TCP")],       # Kafka
                     [(443, "TCP"), (6443, "TCP")],        # the apiserver
                     [(443, "TCP")]]                       # Slack
    assert spec["egress"][3]["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}]
    production = one(render(helm_binary, values=[PRODUCTION_VALUES],
                            sets={"networkPolicy.enabled": "true"}), "NetworkPolicy")
    dialled = [sorted(p["port"] for p in rule["ports"]) for rule in production["spec"]["egress"]]
    assert [5432] in dialled and [6379] in dialled
    assert not of_kind(render(helm_binary), "NetworkPolicy")


def test_the_bots_own_clientintents_name_its_topics_services_and_slack(
        helm_binary: Path) -> None:
    intents = one(render(helm_binary, values=[PRODUCTION_VALUES],
                         sets={"clientIntents.enabled": "true"}), "ClientIntents")
    assert intents["spec"]["workload"] == {"name": "chatbot-flow-approval-chatbot",
                                           "kind": "Deployment"}
    targets = intents["spec"]["targets"]
    assert targets[0] == {"kafka": {"name": "kafka.kafka", "topics": [
        {"name": "flow-anomalies", "operations": ["consume", "describe"]},
        {"name": "hubble-flows", "operations": ["consume", "describe"]},
        {"name": "flow-anomalies.dlq", "operations": ["produce", "describe"]}]}}
    assert {"service": {"name": "kubernetes.default"}} in targets
    assert {"service": {"name": "postgresql.postgres"}} in targets
    assert {"service": {"name": "redis.redis"}} in targets
    assert {"internet": {"domains": ["slack.com", "*.slack.com"], "ports": [443]}} in targets
