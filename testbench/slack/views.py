"""``views.open`` as the stand-in answers it: a modal exchanged for a fresh trigger id, checked
against the limits Slack enforces (title, submit and close texts, block count and content,
private metadata), recorded in the workspace so a test can read what the bot opened."""

from __future__ import annotations

import re
from collections.abc import Iterator

from testbench.slack import params as p
from testbench.slack.blocks import block_errors
from testbench.slack.params import Params
from testbench.slack.workspace import JSONObject, SlackError, Workspace, new_id

TRIGGER = re.compile(r"\d+\.\d+\.[0-9a-f]+")
MAX_VIEW_BLOCKS = 100


def views_open(ws: Workspace, params: Params) -> JSONObject:
    trigger = p.text(params, "trigger_id")
    if not trigger:
        raise SlackError("invalid_arguments", detail="trigger_id is required")
    if not TRIGGER.fullmatch(trigger):
        raise SlackError("invalid_trigger_id")
    if trigger in ws.exchanged_triggers:
        raise SlackError("exchanged_trigger_id")
    view = params.get("view")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", detail="view must be a JSON object")
    errors = list(view_errors(view))
    if errors:
        raise SlackError("invalid_arguments",
                         response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
    ws.exchanged_triggers.add(trigger)
    opened: JSONObject = {**view, "id": new_id("V"), "team_id": ws.team_id,
                          "state": {"values": {}}, "hash": f"{len(ws.views) + 1}.bench",
                          "app_id": ws.app_id, "bot_id": ws.bot_id,
                          "private_metadata": view.get("private_metadata", ""),
                          "callback_id": view.get("callback_id", "")}
    opened["root_view_id"] = opened["id"]
    ws.views.append(opened)
    return {"ok": True, "view": opened}


def view_errors(view: JSONObject) -> Iterator[str]:
    if view.get("type") != "modal":
        yield "must be 'modal' [json-pointer:/view/type]"
    for key, required in (("title", True), ("submit", False), ("close", False)):
        yield from _label(view.get(key), 24, f"/view/{key}", required=required)
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        yield "must provide blocks [json-pointer:/view/blocks]"
        return
    if len(blocks) > MAX_VIEW_BLOCKS:
        yield f"no more than {MAX_VIEW_BLOCKS} items allowed [json-pointer:/view/blocks]"
    typed = [block for block in blocks if isinstance(block, dict)]
    yield from (error.replace("/blocks", "/view/blocks")
                for error in block_errors(typed[:50]))
    for index, block in enumerate(typed):
        if block.get("type") == "input":
            yield from _input(block, f"/view/blocks/{index}")
    if any(b.get("type") == "input" for b in typed) and view.get("submit") is None:
        yield "a view with inputs needs submit [json-pointer:/view/submit]"
    for key, limit in (("private_metadata", 3000), ("callback_id", 255)):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            yield f"must be a string of at most {limit} characters [json-pointer:/view/{key}]"


def _input(block: JSONObject, at: str) -> Iterator[str]:
    yield from _label(block.get("label"), 2000, f"{at}/label", required=True)
    element = block.get("element")
    if not isinstance(element, dict) or not element.get("type"):
        yield f"must provide an element [json-pointer:{at}/element]"
        return
    if element.get("type") == "plain_text_input":
        limit = element.get("max_length")
        if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 3000):
            yield f"must be between 1 and 3000 [json-pointer:{at}/element/max_length]"


def _label(value: object, limit: int, at: str, *, required: bool) -> Iterator[str]:
    if value is None:
        if required:
            yield f"is required [json-pointer:{at}]"
        return
    if not isinstance(value, dict) or value.get("type") != "plain_text":
        yield f"must be a plain_text object [json-pointer:{at}]"
        return
    text = value.get("text")
    if not isinstance(text, str) or not text or len(text) > limit:
        yield f"must be 1 to {limit} characters [json-pointer:{at}/text]"
