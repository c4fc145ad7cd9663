"""What is wrong with a bad event, as a short fixed code: the metric label of
``bad_events_total``. Set where the :class:`~chatbot.errors.BadEvent` is raised, next to the
reason a person reads, so the label never depends on the wording of that reason."""

from __future__ import annotations

from enum import StrEnum


class Problem(StrEnum):
    EMPTY = "empty"
    OVERSIZE = "oversize"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    NOT_OBJECT = "not_object"
    SCHEMA_VERSION = "schema_version"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
