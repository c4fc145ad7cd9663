"""A time bound inside a JSON batch row compares with the stored column exactly as the
column's own value would: on SQLite the text must be the one SQLAlchemy writes for
UtcDateTime, which BatchRows produces without SQLAlchemy's per-value processing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from chatbot.store.batch_rows import BatchRows
from chatbot.store.models import UtcDateTime

TIMES = [
    datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC),
    datetime(2026, 11, 23, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    datetime(1, 1, 1, 0, 0, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=2))),
]


@pytest.mark.parametrize("value", TIMES, ids=[t.isoformat() for t in TIMES])
def test_the_sqlite_text_is_the_columns_own(value: datetime) -> None:
    dialect = sqlite.dialect()
    column = UtcDateTime()
    processor = column.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None

    assert BatchRows(dialect).stored_time(value) == processor(value)
