"""The local review page: the anomaly cards with Approve / Block / Escalate / Revoke, and a
war-room view of the escalated ones, in a browser.

The embedded stand-in for Slack (``chatbot demo``), and optionally a read-only dashboard in
``serve`` mode. Decisions go through the same :class:`Decider` as a Slack click, as the
configured local user (or one of the few others the demo lets the page switch to, so a
two-person rule can be seen working), so authorization, risk, justification, compare-and-set
and audit are the very same code. A decision the risk rules want justified is answered 422
with a field error until the request carries the text.
"""

from __future__ import annotations

import asyncio
import html
import secrets
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import replace
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import Card, justification_problem
from chatbot.config.rules import Rules
from chatbot.decisions import Decider, Verdict
from chatbot.events.model import Workload
from chatbot.intents.directory import DirectorySink
from chatbot.lifecycle import OPEN_STATES, State
from chatbot.review.filters import BadQuery, read_query
from chatbot.review.guard import CSRF_HEADER, guard
from chatbot.review.views import (
    View,
    action_views,
    audit_view,
    card_view,
    flow_label,
    parse_action,
)
from chatbot.store import anomalies as stored
from chatbot.store import listing
from chatbot.store.audit import entries

STATIC = Path(__file__).with_name("static")
ASSETS = {"review.js": "text/javascript", "review.css": "text/css",
          "favicon.svg": "image/svg+xml"}
AUDIT_LIMIT = 200
MAX_FILE_CHARS = 64 * 1024
CurrentIntents = Callable[[Workload], Awaitable[tuple[str, ...] | None]]
STATUS = {Verdict.DECIDED: 200, Verdict.STALE: 409, Verdict.REFUSED: 403, Verdict.UNKNOWN: 404,
          Verdict.NEEDS_JUSTIFICATION: 422}


def make_review_app(
    *,
    sessions: async_sessionmaker[AsyncSession],
    decider: Decider,
    intents_dir: Path | None,
    user_id: str,
    read_only: bool,
    extra_hosts: Collection[str] = (),
    rules: Rules | None = None,
    also_as: Collection[str] = (),
    current_intents: CurrentIntents | None = None,
) -> web.Application:
    """``extra_hosts`` (``name:port``) are accepted in the Host header besides loopback, for a
    dashboard reached through a port-forward or a proxy. ``rules`` (the decider's when not
    given) shape the cards; ``also_as`` are the other users the page may decide as."""
    csrf_token = secrets.token_urlsafe(32)
    rules = rules or decider.rules
    users = [user_id, *(user for user in also_as if user != user_id)]
    files = DirectorySink(intents_dir) if intents_dir is not None else None
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    page = (page.replace("{{csrf_header}}", CSRF_HEADER)
            .replace("{{csrf_token}}", csrf_token)
            .replace("{{user_id}}", html.escape(user_id))
            .replace("{{users}}", html.escape(",".join(users)))
            .replace("{{read_only}}", "true" if read_only else "false"))

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    assets = {name: (STATIC / name).read_bytes() for name in ASSETS}

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in assets:
            raise web.HTTPNotFound()
        return web.Response(body=assets[name], content_type=ASSETS[name])

    async def anomalies(request: web.Request) -> web.Response:
        try:
            query = read_query(request.query)
        except BadQuery as refused:
            return web.json_response({"error": str(refused)}, status=400)
        async with sessions() as session:
            found = await listing.page(session, where=query.where, offset=query.offset,
                                       limit=query.limit, rules=rules)
            counts = await stored.count_by_state(session)
            namespaces = await listing.namespaces(session)
        cards = found.cards
        texts = await _intents_files(cards, files)
        cards = await _in_context(cards, current_intents)
        return web.json_response({
            "user_id": user_id,
            "users": users,
            "read_only": read_only,
            "actions": [] if read_only else action_views(),
            "counts": counts,
            "total": sum(counts.values()),
            "namespaces": namespaces,
            "page": {"offset": query.offset, "limit": query.limit,
                     "matching": found.matching},
            "anomalies": [card_view(card, intents_file=texts.get(card.anomaly_id))
                          for card in cards],
        })

    async def audit(_request: web.Request) -> web.Response:
        async with sessions() as session:
            found = await entries(session, limit=AUDIT_LIMIT)
            named = await stored.cards(session, ids={entry.anomaly_id for entry in found})
        flows = {card.anomaly_id: flow_label(card) for card in named}
        return web.json_response({"entries": [audit_view(entry, flows) for entry in found]})

    async def decide(request: web.Request) -> web.Response:
        if read_only:
            return web.json_response({"error": "this review page is read-only"}, status=403)
        action = parse_action(request.match_info["action"])
        if action is None:
            return web.json_response({"error": "unknown action"}, status=404)
        form = await _form(request)
        if form is None:
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        deciding_as = str(form.get("as") or user_id)
        if deciding_as not in users:
            return web.json_response({"error": f"this page cannot decide as {deciding_as}"},
                                     status=403)
        text = form.get("justification")
        text = text if isinstance(text, str) else None
        problem = justification_problem(text) if text is not None else None
        if problem is not None and text and text.strip():
            return web.json_response({"verdict": "invalid", "message": problem,
                                      "errors": {"justification": problem}}, status=422)
        outcome = await decider.decide(anomaly_id=request.match_info["anomaly_id"],
                                       action=action, user_id=deciding_as, justification=text)
        body = {"verdict": outcome.verdict.value, "message": outcome.message,
                "anomaly": card_view(outcome.card) if outcome.card else None}
        if outcome.verdict is Verdict.NEEDS_JUSTIFICATION:
            body["errors"] = {"justification": justification_problem(None)}
        return web.json_response(body, status=STATUS[outcome.verdict])

    app = web.Application(middlewares=[guard(csrf_token=csrf_token, extra_hosts=extra_hosts)],
                          client_max_size=64 * 1024)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", asset)
    app.router.add_get("/api/anomalies", anomalies)
    app.router.add_get("/api/audit", audit)
    app.router.add_post("/api/anomalies/{anomaly_id}/{action}", decide)
    return app


async def _in_context(cards: list[Card], current: CurrentIntents | None) -> list[Card]:
    """Open cards also show their client's intents as they stand (one read per client)."""
    if current is None:
        return cards
    clients = list({card.client for card in cards if card.state in OPEN_STATES})
    found = dict(zip(clients, await asyncio.gather(*(current(c) for c in clients)),
                     strict=True))
    return [replace(card, current_targets=found[card.client]) if card.client in found
            else card for card in cards]


async def _form(request: web.Request) -> dict[str, object] | None:
    """The decision's JSON body (``justification``, ``as``); an empty body is no fields."""
    if not request.body_exists:
        return {}
    try:
        form = await request.json()
    except ValueError:
        return None
    return form if isinstance(form, dict) else None


async def _intents_files(cards: Iterable[Card], files: DirectorySink | None) -> dict[str, View]:
    """The YAML file behind each applied card (one read per file, however many cards)."""
    if files is None:
        return {}
    wanted = {card.anomaly_id: files.file_for(card.client) for card in cards
              if card.state in (State.APPLIED, State.REVOKING, State.REVOKED)}
    paths = list(set(wanted.values()))
    read = await asyncio.gather(*(asyncio.to_thread(_read, path) for path in paths))
    texts = dict(zip(paths, read, strict=True))
    return {anomaly_id: {"name": path.name, "text": texts[path]}
            for anomaly_id, path in wanted.items() if texts[path] is not None}


def _read(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", errors="replace") as stream:
            text = stream.read(MAX_FILE_CHARS + 1)
    except OSError:
        return None
    return text if len(text) <= MAX_FILE_CHARS else text[:MAX_FILE_CHARS] + "\n# … (truncated)"
