"""Choose the intents sink from ``CHATBOT_INTENTS_SINK`` and ``CHATBOT_INTENTS_FORMAT`` and say
how to probe it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kubernetes_asyncio.client import VersionApi

from chatbot.config.settings import Settings
from chatbot.intents.directory import DirectorySink
from chatbot.intents.kubernetes import kubernetes_sink
from chatbot.intents.networkpolicy.wiring import networkpolicy_sink
from chatbot.intents.sink import IntentsSink

Probe = Callable[[], Awaitable[bool]]


async def intents_sink(settings: Settings) -> tuple[IntentsSink, Probe]:
    if settings.intents_format == "networkpolicy":
        return await networkpolicy_sink(settings)
    directory = settings.intents_directory
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)

        async def writable() -> bool:
            return directory.is_dir()

        return DirectorySink(directory), writable
    sink = await kubernetes_sink(settings.kubeconfig)

    async def reachable() -> bool:
        await VersionApi(sink.api_client).get_code()
        return True

    return sink, reachable
