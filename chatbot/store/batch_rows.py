"""A batch of rows handed to the database as one table, so one statement covers a whole
batch — no per-row round trip, no statement compiled per batch size, no bound-parameter
limit. Used by the ingest statements (chatbot/store/ingest.py).

- PostgreSQL: ONE parameter, a JSON array of rows, read back by ``jsonb_array_elements``
  (binary: reading a row's fields does not parse its text again per field).
- SQLite: the rows are bound natively (``executemany``, in C) into a per-connection TEMP
  table that the statement then reads. SQLite's ``json_extract`` parses the row's text once
  per field, which made the JSON way ~2.5 times slower at 13 fields a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    MetaData,
    Select,
    String,
    Table,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

WIDTH = 14  # fields a row may have
# Untyped columns (no affinity): SQLite keeps each value as it was bound.
_TEMP = Table("batch_rows", MetaData(), *(Column(f"c{i}") for i in range(WIDTH)),
              prefixes=["TEMP"])
_CREATE = (f"CREATE TEMP TABLE IF NOT EXISTS batch_rows "
           f"({', '.join(f'c{i}' for i in range(WIDTH))})")


class BatchRows:
    def __init__(self, dialect: Dialect) -> None:
        self._sqlite = dialect.name == "sqlite"
        if self._sqlite:
            self._table: Any = _TEMP
        elif dialect.name == "postgresql":
            document = cast(bindparam("rows", type_=String()), JSONB)
            self._table = func.jsonb_array_elements(document).table_valued("value").alias(
                "batch")
        else:
            raise RuntimeError(f"unsupported database dialect {dialect.name!r}")

    def select(self, *columns: ColumnElement[Any]) -> Select[Any]:
        return select(*columns).select_from(self._table)

    def field(self, index: int) -> ColumnElement[Any]:
        """Field ``index`` of the row: a number or a string as bound (text on PostgreSQL)."""
        if self._sqlite:
            column: ColumnElement[Any] = self._table.c[f"c{index}"]
            return column
        text: ColumnElement[Any] = self._table.c.value.op("->>")(literal_column(str(index)))
        return text

    def document(self, index: int) -> ColumnElement[Any]:
        """Field ``index`` as a JSON value, for a JSON column."""
        if self._sqlite:  # bound as its JSON text, which is how SQLite stores JSON
            return self.field(index)
        return cast(self._table.c.value.op("->")(literal_column(str(index))), JSON)

    def integer(self, index: int) -> ColumnElement[Any]:
        return self.field(index) if self._sqlite else cast(self.field(index), BigInteger)

    def time(self, index: int) -> ColumnElement[Any]:
        """A timestamp written by :meth:`stored_time`, comparable with (and storable in) a
        time column."""
        if self._sqlite:
            return self.field(index)
        return cast(self.field(index), DateTime(timezone=True))

    def stored_time(self, value: datetime) -> str:
        """SQLite compares the column's own text form (UtcDateTime's, written by
        SQLAlchemy as ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC: isoformat gives the same text,
        in C; tests/store/test_batch_rows.py holds them together); PostgreSQL casts ISO 8601
        back."""
        if self._sqlite:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return value.isoformat()

    def json(self, document: object) -> object:
        """A field for :meth:`document`: SQLite takes the JSON text."""
        return orjson.dumps(document).decode() if self._sqlite else document

    async def load(self, connection: AsyncConnection, rows: Sequence[Sequence[object]]
                   ) -> dict[str, str]:
        """Hand ``rows`` over; returns the parameters of the statement that reads them.
        Fields read with :meth:`document` must come from :meth:`json`."""
        if not self._sqlite:
            return {"rows": orjson.dumps(rows).decode()}
        await connection.exec_driver_sql(_CREATE)
        await connection.exec_driver_sql("DELETE FROM batch_rows")
        if rows:
            width = len(rows[0])
            names = ", ".join(f"c{i}" for i in range(width))
            await connection.exec_driver_sql(  # names and markers only: values are bound
                f"INSERT INTO batch_rows ({names}) VALUES ({', '.join('?' * width)})",  # noqa: S608
                rows)
        return {}
