"""The approval loop with CHATBOT_INTENTS_FORMAT=networkpolicy: Kafka anomaly → card → Approve
→ NetworkPolicies; under the chart's ClientIntents-only RBAC the write fails on the card and
succeeds once the chart's NetworkPolicy RBAC is granted."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from chatbot.intents.networkpolicy.policy import GROUP, PLURAL, VERSION
from chatbot.slack.ids import ActionId
from testbench.kube import KubeCluster
from testbench.slack import SlackStandin
from tests.deploy.chart import one, render
from tests.deploy.cluster import apply
from tests.intents.networkpolicy.workloads import create
from tests.scenarios.conftest import running_bot
from tests.scenarios.harness import eventually, flow_event

pytestmark = pytest.mark.bench

RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_approve_without_networkpolicy_rbac_fails_on_the_card_until_the_chart_grants_it(
        bot_env: dict[str, str], slack_standin: SlackStandin, kube_admin_client: ApiClient,
        kube_cluster: KubeCluster, kube_namespace: str, helm_binary: Path) -> None:
    await create(kube_admin_client, "Deployment", kube_namespace, "web", {"app": "web"})
    await create(kube_admin_client, "Deployment", kube_namespace, "game-api", {"app": "game-api"})
    release = f"bot-{uuid.uuid4().hex[:8]}"
    installed = await asyncio.to_thread(render, helm_binary, release=release,
                                        namespace=kube_namespace)
    await apply(kube_admin_client, [m for m in installed if m["kind"] in RBAC_KINDS],
                namespace=kube_namespace)
    account = one(installed, "ServiceAccount")["metadata"]["name"]
    kubeconfig = await asyncio.to_thread(kube_cluster.service_account_kubeconfig,
                                         kube_namespace, account)
    env = {**bot_env, "CHATBOT_INTENTS_FORMAT": "networkpolicy",
           "CHATBOT_KUBECONFIG": str(kubeconfig)}

    async with running_bot(env, slack_standin, kube_admin_client) as bot:
        await bot.send(flow_event(client_ns=kube_namespace))
        [anomaly] = await bot.card_posted()
        # The card says what a NetworkPolicy opens, not what a ClientIntents would.
        grant = json.dumps(bot.slack.messages("flow-alerts")[0].blocks)
        assert "port 8080/TCP only" in grant and "deny-by-default" in grant
        assert "every port of" not in grant
        assert await bot.click(anomaly, ActionId.APPROVE) == 200
        failed = await bot.state_is(anomaly.id, "apply_failed")
        assert failed.apply_error is not None
        assert "refused to let the bot read Deployment" in failed.apply_error
        assert "intents.format=networkpolicy" in failed.apply_error

        async def on_the_card() -> bool:
            card = json.dumps(bot.slack.messages("flow-alerts")[0].blocks)
            return "failed (attempt" in card and "forbidden" in card
        await eventually(on_the_card, what="the refusal shown on the card")

        await grant_networkpolicy_rbac(kube_admin_client, helm_binary, release, kube_namespace,
                                       account)
        await bot.state_is(anomaly.id, "applied", within=40)

    listed = await client.CustomObjectsApi(kube_admin_client).list_namespaced_custom_object(
        GROUP, VERSION, kube_namespace, PLURAL)
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == [
        "game-api-deployment-ingress", "web-deployment-egress"]


async def grant_networkpolicy_rbac(api_client: ApiClient, helm_binary: Path, release: str,
                                   namespace: str, account: str) -> None:
    """What `helm upgrade --set intents.format=networkpolicy` does to the release's RBAC."""
    upgraded = await asyncio.to_thread(render, helm_binary, release=release, namespace=namespace,
                                       sets={"intents.format": "networkpolicy"})
    role = one(upgraded, "ClusterRole")
    await client.RbacAuthorizationV1Api(api_client).patch_cluster_role(
        role["metadata"]["name"], {"rules": role["rules"]})
    binding = one(upgraded, "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == account
