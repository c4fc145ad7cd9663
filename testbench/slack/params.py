"""Reading Web API arguments the way Slack does: form fields, query strings and JSON bodies
all arrive as one flat mapping, where JSON-valued fields (``blocks``, ``metadata``) may be
either decoded objects or JSON text."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, MutableMapping
from typing import cast

from testbench.slack.blocks import block_errors
from testbench.slack.workspace import JSONObject, SlackError

Params = Mapping[str, object]

JSON_FIELDS = ("blocks", "metadata", "attachments", "view")


def decode_json_fields(params: MutableMapping[str, object]) -> None:
    """Decode JSON-text fields in place; undecodable text stays as it is, for the method
    to refuse with Slack's ``invalid_*_format`` error."""
    for key in JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)


def text(params: Params, key: str) -> str | None:
    value = params.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise SlackError("invalid_arguments", detail=f"{key} must be a string")


def flag(params: Params, key: str) -> bool:
    value = params.get(key)
    return value is True or value in ("true", "1", 1)


def integer(params: Params, key: str, default: int) -> int:
    value = text(params, key)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SlackError("invalid_arguments", detail=f"{key} must be an integer") from None


def id_list(params: Params, key: str) -> list[str]:
    value = params.get(key)
    if isinstance(value, list):
        return [str(item) for item in value]
    raw = text(params, key) or ""
    return [item.strip() for item in raw.split(",") if item.strip()]


def blocks(params: Params) -> list[JSONObject] | None:
    value = params.get("blocks")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
        raise SlackError("invalid_blocks_format")
    found = cast(list[JSONObject], value)
    errors = block_errors(found)
    if errors:
        raise SlackError("invalid_blocks", errors=errors,
                         response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
    return found


def metadata(params: Params) -> JSONObject | None:
    value = params.get("metadata")
    if value is None:
        return None
    if (not isinstance(value, dict) or not isinstance(value.get("event_type"), str)
            or not isinstance(value.get("event_payload"), dict)):
        raise SlackError("invalid_metadata_format")
    return cast(JSONObject, value)
