"""The aiohttp application the service listens with.

``/slack/events`` hands signed Slack requests to the bolt app (which verifies the v0
signature and its 5-minute window); ``/healthz`` says the process is alive (503 once a
supervised task died, in the moment before the process exits); ``/readyz`` asks each
dependency probe; ``/metrics`` is the Prometheus exposition; ``/forge/webhook`` (git sink
with a webhook secret) takes signed pull-request events from the forge.

``/readyz`` answers ``{"ready": …, "checks": {name: bool}, "problems": {name: reason},
"advisory": [names]}``. Only the gating probes decide ``ready`` (and so whether the pod
gets Slack's requests); advisory ones — Kafka — are reported and never gate: a Kafka
outage must not stop clicks from being decided.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from chatbot.metrics import Metrics
from chatbot.web.forge_hook import PATH as FORGE_WEBHOOK_PATH
from chatbot.web.forge_hook import Handler

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[bool]]
Refresh = Callable[[], Awaitable[None]]
PROBE_TIMEOUT = 3.0


def make_web_app(
    *, bolt: AsyncApp | None, metrics: Metrics, probes: Mapping[str, Probe],
    advisory: Mapping[str, Probe] | None = None,
    alive: Callable[[], bool] = lambda: True, before_metrics: Refresh | None = None,
    forge_webhook: Handler | None = None,
) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)

    async def slack_events(request: web.Request) -> web.Response:
        assert bolt is not None
        return await to_aiohttp_response(await bolt.async_dispatch(
            await to_bolt_request(request)))

    async def healthz(_request: web.Request) -> web.Response:
        if not alive():
            return web.json_response({"status": "a background task died"}, status=503)
        return web.json_response({"status": "ok"})

    every = {**probes, **(advisory or {})}

    async def readyz(_request: web.Request) -> web.Response:
        results = await asyncio.gather(*(_ask(name, probe) for name, probe in every.items()))
        answers = dict(zip(every, results, strict=True))
        ready = all(answers[name][0] for name in probes)
        return web.json_response({
            "ready": ready,
            "checks": {name: ok for name, (ok, _why) in answers.items()},
            "problems": {name: why for name, (ok, why) in answers.items() if not ok},
            "advisory": sorted(advisory or {}),
        }, status=200 if ready else 503)

    async def metrics_page(_request: web.Request) -> web.Response:
        if before_metrics is not None:
            try:
                await asyncio.wait_for(before_metrics(), PROBE_TIMEOUT)
            except Exception as error:  # still serve the counters we have
                log.warning("refreshing metrics failed: %s", error)
        return web.Response(body=metrics.render(),
                            headers={"Content-Type": metrics.content_type})

    if bolt is not None:
        app.router.add_post("/slack/events", slack_events)
    if forge_webhook is not None:
        app.router.add_post(FORGE_WEBHOOK_PATH, forge_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app


async def _ask(name: str, probe: Probe) -> tuple[bool, str]:
    """(ok, why not); a probe says why by the message of what it raises."""
    try:
        ok = await asyncio.wait_for(probe(), PROBE_TIMEOUT)
    except TimeoutError:
        why = f"no answer within {PROBE_TIMEOUT:g}s"
    except Exception as error:
        why = str(error) or type(error).__name__
    else:
        return ok, "" if ok else "not ready"
    log.warning("readiness probe %s failed: %s", name, why)
    return False, why
