"""``/_standin/...``: the stand-in's inspection and set-up over HTTP, for when it runs as its
own process. Mirrors the in-process methods of ``SlackStandin``:

- ``GET  /_standin/env``                       the ``CHATBOT_SLACK_*`` settings
- ``GET  /_standin/calls?method=``             recorded Web API calls
- ``GET  /_standin/messages?channel=``         a channel's messages (id or name)
- ``GET  /_standin/ephemerals?channel=``       ephemeral messages
- ``GET  /_standin/shown?channel=``            a channel's messages as a person reads them
- ``GET  /_standin/channels``                  channels
- ``POST /_standin/channels``    ``{"name", "members"?, "is_private"?}`` -> ``{"id"}``
- ``POST /_standin/users``       ``{"name", "id"?, "real_name"?}`` -> ``{"id"}``
- ``POST /_standin/usergroups``  ``{"id", "users", "handle"?}`` -> ``{"id"}``
- ``POST /_standin/faults``      ``{"count", "status"?, "retry_after"?, "method"?, "error"?,
  "channel"?}``
- ``POST /_standin/rate_limit``  ``{"per_channel_per_second": float | null, "burst"?}``
- ``POST /_standin/reset``       ``{"keep_setup"?}``
- ``POST /_standin/respond/{channel}/{ts}``    an interaction's ``response_url``
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from testbench.slack import params as p
from testbench.slack.methods import response_url
from testbench.slack.workspace import JSONObject, SlackError

if TYPE_CHECKING:
    from testbench.slack.standin import SlackStandin


def routes(standin: SlackStandin) -> list[web.RouteDef]:
    async def env(request: web.Request) -> web.Response:
        return web.json_response(standin.env())

    async def calls(request: web.Request) -> web.Response:
        found = standin.calls(request.query.get("method"))
        return web.json_response({"calls": [c.to_json() for c in found]})

    async def messages(request: web.Request) -> web.Response:
        ws = standin.workspace
        found = standin.messages(request.query.get("channel", ""))
        return web.json_response({"messages": [m.to_api(team_id=ws.team_id) for m in found]})

    async def ephemerals(request: web.Request) -> web.Response:
        found = standin.ephemerals(request.query.get("channel"))
        return web.json_response({"ephemerals": [asdict(e) for e in found]})

    async def shown(request: web.Request) -> web.Response:
        found = standin.shown(request.query.get("channel", ""))
        return web.json_response({"messages": [asdict(m) for m in found]})

    async def channels(request: web.Request) -> web.Response:
        found = standin.workspace.channels.values()
        return web.json_response({"channels": [c.to_api() for c in found]})

    async def add_channel(request: web.Request) -> web.Response:
        body = await _body(request)
        return _ok(id=standin.add_channel(p.text(body, "name") or "",
                                          members=p.id_list(body, "members"),
                                          is_private=p.flag(body, "is_private")))

    async def add_user(request: web.Request) -> web.Response:
        body = await _body(request)
        return _ok(id=standin.add_user(p.text(body, "name") or "user",
                                       user_id=p.text(body, "id"),
                                       real_name=p.text(body, "real_name")))

    async def add_usergroup(request: web.Request) -> web.Response:
        body = await _body(request)
        return _ok(id=standin.add_usergroup(p.text(body, "id") or "",
                                            p.id_list(body, "users"),
                                            handle=p.text(body, "handle")))

    async def faults(request: web.Request) -> web.Response:
        body = await _body(request)
        retry_after = p.text(body, "retry_after") if "retry_after" in body else "1"
        standin.fail_next(p.integer(body, "count", 1), p.integer(body, "status", 429),
                          int(retry_after) if retry_after else None,
                          p.text(body, "method"), error=p.text(body, "error"),
                          channel=p.text(body, "channel"))
        return _ok()

    async def rate_limit(request: web.Request) -> web.Response:
        body = await _body(request)
        rate = p.text(body, "per_channel_per_second")
        standin.enforce_rate_limit(float(rate) if rate else None,
                                   burst=p.integer(body, "burst", 1))
        return _ok()

    async def reset(request: web.Request) -> web.Response:
        standin.reset(keep_setup=p.flag(await _body(request), "keep_setup"))
        return _ok()

    async def respond(request: web.Request) -> web.Response:
        body = await _body(request)
        body |= {"channel": request.match_info["channel"], "ts": request.match_info["ts"]}
        p.decode_json_fields(body)
        try:
            answer = response_url(standin.workspace, body)
        except SlackError as error:
            answer = error.body()
        standin.log.record("response_url", body, 200, answer)
        return web.json_response(answer)

    return [
        web.get("/_standin/env", env),
        web.get("/_standin/calls", calls),
        web.get("/_standin/messages", messages),
        web.get("/_standin/ephemerals", ephemerals),
        web.get("/_standin/shown", shown),
        web.get("/_standin/channels", channels),
        web.post("/_standin/channels", add_channel),
        web.post("/_standin/users", add_user),
        web.post("/_standin/usergroups", add_usergroup),
        web.post("/_standin/faults", faults),
        web.post("/_standin/rate_limit", rate_limit),
        web.post("/_standin/reset", reset),
        web.post("/_standin/respond/{channel}/{ts}", respond),
    ]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Set-up mistakes (unknown channel, taken name, bad JSON) answer 400 with the reason."""
    if not request.path.startswith("/_standin/"):
        return await handler(request)
    try:
        return await handler(request)
    except SlackError as error:
        return web.json_response(error.body(), status=400)
    except (LookupError, ValueError) as error:
        return web.json_response({"ok": False, "error": str(error)}, status=400)


def _ok(**fields: object) -> web.Response:
    return web.json_response({"ok": True, **fields})


async def _body(request: web.Request) -> JSONObject:
    if not request.body_exists:
        return {}
    body = json.loads(await request.read())
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body
