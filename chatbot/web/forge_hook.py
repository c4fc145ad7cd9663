"""``POST /forge/webhook``: the forge tells the service a pull request changed.

The signature is checked over the raw body before anything is parsed (Gitea/Forgejo:
``X-Gitea-Signature``/``X-Forgejo-Signature``, GitHub: ``X-Hub-Signature-256``); an unsigned
or forged delivery is answered 401 and changes nothing. Other events are acknowledged and
ignored. A verified pull-request event is handed to the proposal tracker, which records a
merge or close exactly as a poll would (compare-and-set, audited).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from chatbot.errors import PermanentError
from chatbot.forge.gitea import pull_request_from_gitea
from chatbot.forge.github import pull_request_from_github
from chatbot.forge.pull_request import PullRequest
from chatbot.forge.webhook import (
    FORGEJO_SIGNATURE_HEADER,
    GITEA_SIGNATURE_HEADER,
    GITHUB_SIGNATURE_HEADER,
    verify_gitea_signature,
    verify_github_signature,
)

log = logging.getLogger(__name__)

PATH = "/forge/webhook"
Observe = Callable[[PullRequest], Awaitable[bool]]
Handler = Callable[[web.Request], Awaitable[web.Response]]
_EVENT_HEADERS = {"gitea": ("X-Gitea-Event", "X-Forgejo-Event"), "github": ("X-GitHub-Event",)}


def forge_webhook(*, forge: str, secret: str, observe: Observe) -> Handler:
    async def receive(request: web.Request) -> web.Response:
        raw = await request.read()
        if not _signed(forge, secret, raw, request):
            log.warning("refused a forge webhook with a missing or wrong signature from %s",
                        request.remote)
            return web.json_response({"error": "bad signature"}, status=401)
        event = next((request.headers[name] for name in _EVENT_HEADERS[forge]
                      if name in request.headers), "")
        if event != "pull_request":
            return web.json_response({"ignored": event or "unknown event"})
        try:
            payload = json.loads(raw)
            item = payload["pull_request"]
            pr = (pull_request_from_github(item) if forge == "github"
                  else pull_request_from_gitea(item))
        except (ValueError, KeyError, TypeError, PermanentError) as error:
            return web.json_response({"error": f"not a pull request event: {error}"},
                                     status=400)
        tracked = await observe(pr)
        return web.json_response({"tracked": tracked, "state": pr.state.value})

    return receive


def _signed(forge: str, secret: str, raw: bytes, request: web.Request) -> bool:
    if forge == "github":
        return verify_github_signature(secret=secret, body=raw,
                                       header=request.headers.get(GITHUB_SIGNATURE_HEADER))
    header = (request.headers.get(GITEA_SIGNATURE_HEADER)
              or request.headers.get(FORGEJO_SIGNATURE_HEADER))
    return verify_gitea_signature(secret=secret, body=raw, header=header)
