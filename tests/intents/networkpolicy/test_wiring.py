"""CHATBOT_INTENTS_FORMAT picks the NetworkPolicy sink, for the cluster or the directory; the
default stays ClientIntents."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.config.settings import settings_from_env
from chatbot.errors import ConfigError
from chatbot.intents.kubernetes import KubernetesSink
from chatbot.intents.networkpolicy.cluster import NetworkPolicySink
from chatbot.intents.networkpolicy.directory import NetworkPolicyDirectorySink
from chatbot.intents.wiring import intents_sink
from testbench.kube import KubeCluster

pytestmark = pytest.mark.bench


@pytest.mark.parametrize(("env", "kind"), [
    ({}, KubernetesSink),
    ({"CHATBOT_INTENTS_FORMAT": "networkpolicy"}, NetworkPolicySink),
    ({"CHATBOT_INTENTS_FORMAT": "NetworkPolicy", "CHATBOT_INTENTS_SINK": "directory:{tmp}"},
     NetworkPolicyDirectorySink),
], ids=["default", "networkpolicy", "networkpolicy-directory"])
async def test_the_format_picks_the_sink_and_its_probe(
        kube_cluster: KubeCluster, tmp_path: Path, env: dict[str, str], kind: type) -> None:
    settings = settings_from_env({
        "CHATBOT_KUBECONFIG": str(kube_cluster.admin_kubeconfig),
        **{key: value.format(tmp=tmp_path / "policies") for key, value in env.items()}})

    sink, ready = await intents_sink(settings)
    try:
        assert isinstance(sink, kind)
        assert await ready()
    finally:
        await sink.close()


def test_an_unknown_format_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="CHATBOT_INTENTS_FORMAT must be 'clientintents' or "
                                          "'networkpolicy', not 'cilium'"):
        settings_from_env({"CHATBOT_INTENTS_FORMAT": "cilium"})
