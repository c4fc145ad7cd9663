"""The published JSON Schema of a schema-v1 event (chatbot/schema/flow-anomaly-v1.json),
derived from the wire Structs (chatbot/events/wire.py) that the fast decoder checks with.

``python -m chatbot.events.schema > chatbot/schema/flow-anomaly-v1.json`` regenerates the
file; tests/events/test_json_schema.py fails while the file and this derivation differ.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import msgspec

from chatbot.events.wire import MAX_EVENT_BYTES, EventDocument

SCHEMA_ID = "https://flow-approval-chatbot.dev/schema/flow-anomaly-v1.json"


def json_schema() -> dict[str, Any]:
    generated = msgspec.json.schema(EventDocument)
    definitions: dict[str, Any] = generated["$defs"]
    root = definitions.pop(EventDocument.__name__)
    root.pop("title", None)
    root.pop("description", None)
    # The one rule of the shape that is not a per-field constraint.
    internet = definitions["InternetTargetDocument"]
    internet["description"] = "An internet target names a domain, an IP, or both."
    internet["anyOf"] = [{"required": [field], "properties": {field: {"type": "string"}}}
                         for field in ("domain", "ip")]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Flow anomaly event, schema version 1",
        "description": ("A connection no approved access intent covers, as a sensor reports "
                        f"it. Kafka record value, UTF-8 JSON, at most {MAX_EVENT_BYTES} bytes. "
                        "A null field is an absent one."),
        **root,
        "$defs": definitions,
    }


def render() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
