"""Build the NetworkPolicy sink (``CHATBOT_INTENTS_FORMAT=networkpolicy``) for the cluster or
the GitOps directory named by ``CHATBOT_INTENTS_SINK``, and say how to probe it. Both read pod
selectors from the cluster, so both need CHATBOT_KUBECONFIG or an in-cluster ServiceAccount."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kubernetes_asyncio.client import ApiClient, VersionApi

from chatbot.config.settings import Settings
from chatbot.intents.kubernetes import kubernetes_sink
from chatbot.intents.networkpolicy.cluster import NetworkPolicySink
from chatbot.intents.networkpolicy.directory import NetworkPolicyDirectorySink
from chatbot.intents.sink import IntentsSink

Probe = Callable[[], Awaitable[bool]]


async def networkpolicy_sink(settings: Settings) -> tuple[IntentsSink, Probe]:
    # kubernetes_sink knows how to load a kubeconfig or the in-cluster account (and says so
    # readably when neither works); only its ApiClient is kept.
    api_client = (await kubernetes_sink(settings.kubeconfig)).api_client
    directory = settings.intents_directory
    if directory is None:
        return NetworkPolicySink(api_client), _reachable(api_client)
    directory.mkdir(parents=True, exist_ok=True)
    reachable = _reachable(api_client)

    async def ready() -> bool:
        return directory.is_dir() and await reachable()

    return NetworkPolicyDirectorySink(directory, api_client), ready


def _reachable(api_client: ApiClient) -> Probe:
    async def reachable() -> bool:
        await VersionApi(api_client).get_code()
        return True

    return reachable
