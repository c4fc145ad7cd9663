"""Block Kit limits the stand-in enforces, so a card that real Slack would refuse with
``invalid_blocks`` is refused here too (the bot must truncate, never fail).

Only the limits a message card can hit are checked: block count, text lengths of section,
header, context and button elements, element counts and id lengths. Error strings follow
Slack's ``<problem> [json-pointer:/blocks/0/text/text]`` form.
"""

from __future__ import annotations

from collections.abc import Iterator

from testbench.slack.workspace import JSONObject

MAX_BLOCKS = 50
KNOWN_TYPES = frozenset({"section", "header", "context", "actions", "divider", "image",
                         "rich_text", "input", "file", "video", "markdown"})


def block_errors(blocks: list[JSONObject], *, max_blocks: int = MAX_BLOCKS) -> list[str]:
    """``max_blocks`` is 50 for a message, 100 for a modal or a Home tab."""
    errors = []
    if len(blocks) > max_blocks:
        errors.append(f"no more than {max_blocks} items allowed [json-pointer:/blocks]")
    for index, block in enumerate(blocks):
        errors.extend(_block(block, f"/blocks/{index}"))
    return errors


def _block(block: JSONObject, at: str) -> Iterator[str]:
    kind = block.get("type")
    if kind not in KNOWN_TYPES:
        yield f"failed to match all allowed schemas [json-pointer:{at}]"
        return
    yield from _length(block.get("block_id"), 255, f"{at}/block_id")
    if kind == "section":
        if "text" not in block and "fields" not in block:
            yield f"must provide text or fields [json-pointer:{at}]"
        yield from _text_object(block.get("text"), 3000, f"{at}/text")
        fields = _objects(block.get("fields"))
        if len(fields) > 10:
            yield f"no more than 10 items allowed [json-pointer:{at}/fields]"
        for i, item in enumerate(fields):
            yield from _text_object(item, 2000, f"{at}/fields/{i}")
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            yield from _element(accessory, f"{at}/accessory")
    elif kind == "header":
        yield from _text_object(block.get("text"), 150, f"{at}/text", required=True)
    elif kind == "context":
        elements = _objects(block.get("elements"))
        if not 1 <= len(elements) <= 10:
            yield f"must provide 1 to 10 items [json-pointer:{at}/elements]"
        for i, element in enumerate(elements):
            if element.get("type") in ("plain_text", "mrkdwn"):
                yield from _text_object(element, 3000, f"{at}/elements/{i}")
    elif kind == "actions":
        elements = _objects(block.get("elements"))
        if not 1 <= len(elements) <= 25:
            yield f"must provide 1 to 25 items [json-pointer:{at}/elements]"
        for i, element in enumerate(elements):
            yield from _element(element, f"{at}/elements/{i}")


def _element(element: JSONObject, at: str) -> Iterator[str]:
    yield from _length(element.get("action_id"), 255, f"{at}/action_id")
    if element.get("type") == "button":
        yield from _text_object(element.get("text"), 75, f"{at}/text", required=True)
        yield from _length(element.get("value"), 2000, f"{at}/value")
        yield from _length(element.get("url"), 3000, f"{at}/url")
        if element.get("style") not in (None, "primary", "danger"):
            yield f"must be one of primary, danger [json-pointer:{at}/style]"


def _text_object(value: object, limit: int, at: str, *, required: bool = False) -> Iterator[str]:
    if value is None and not required:
        return
    if not isinstance(value, dict) or value.get("type") not in ("plain_text", "mrkdwn"):
        yield f"must be a text object [json-pointer:{at}]"
        return
    content = value.get("text")
    if not isinstance(content, str) or not content:
        yield f"must be more than 0 characters [json-pointer:{at}/text]"
        return
    yield from _length(content, limit, f"{at}/text")


def _length(value: object, limit: int, at: str) -> Iterator[str]:
    if isinstance(value, str) and len(value) > limit:
        yield f"must be less than {limit + 1} characters [json-pointer:{at}]"


def _objects(value: object) -> list[JSONObject]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]
