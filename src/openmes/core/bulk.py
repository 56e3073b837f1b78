"""Bulk work (imports, large commits, machine data), where per-row overhead is most of the time.

Such work allocates millions of short-lived objects that form no cycles. Python's cyclic collector
rescans them again and again while they pile up; pausing it for the span of the bulk work made a
100,000-lot import about 25% faster (benchmarks/bench_import_lots.py).
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import repeat
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Table

# Keys per `IN (...)` list: far below the bind-parameter limits of SQLite (32,766) and PostgreSQL (65,535).
IN_CHUNK = 1000


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector; reference counting still frees memory as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def insert_many(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert `rows` (mappings by column name) with one driver-level executemany; see `insert_rows`.

    A row's own value under a constant's name is ignored.
    """
    if not rows:
        return
    columns = [name for name in rows[0] if name not in (constants or {})]
    if len(columns) > 1:
        values: list[tuple[Any, ...]] = list(map(itemgetter(*columns), rows))
    else:
        values = [tuple(row[name] for name in columns) for row in rows]
    insert_rows(connection, table, columns, values, constants)


def insert_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    constants: Mapping[str, Any] | None = None,
    ready: Collection[str] = (),
) -> None:
    """Insert `rows` (values in the order of `columns`) with one driver-level executemany.

    SQLAlchemy's own executemany rebuilds every row's parameters through its compiler, about a third
    of a bulk insert's time; here each column's bind processor is looked up once and applied column by
    column. `constants` are values shared by every row (a timestamp, who recorded it), processed once.
    The columns named in `ready` hold values in the driver's form already and skip their processor.
    """
    if not rows:
        return
    dialect = connection.dialect
    fixed = {name: stored(table, name, value, dialect) for name, value in (constants or {}).items()}
    processors = [None if name in ready else _processor(table, name, dialect) for name in columns]
    names = [*columns, *fixed]
    statement = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({markers(dialect, len(names))})"  # noqa: S608
    shared = tuple(fixed.values())
    if any(processors):
        by_column = [
            [row[index] for row in rows]
            if process is None
            else [None if (value := row[index]) is None else process(value) for row in rows]
            for index, process in enumerate(processors)
        ]
        rows = list(zip(*by_column, *(repeat(value, len(rows)) for value in shared), strict=True))
    elif shared:
        rows = [(*row, *shared) for row in rows]
    connection.exec_driver_sql(statement, rows)


def execute_in(
    connection: Connection, statement: str, keys: Sequence[Any], params: Sequence[Any] = ()
) -> list[Sequence[Any]]:
    """Run `statement` at the driver for `keys`, whose membership test it holds as `{in_keys}`; its rows, if any.

    `lot_id {in_keys}` becomes `lot_id IN (?, ?, ...)` over chunks of IN_CHUNK keys on SQLite and
    `lot_id = ANY(%s)` over one array of them all on PostgreSQL, whose planner handles a long IN list
    several times slower. Each `{marker}` stands for one of `params`, which all come before `{in_keys}`.
    SQLAlchemy renders and processes every key of an expanding IN list on each execution, which a lookup
    of 100,000 keys feels; here keys and params go to the driver as they are, so they must be in its form
    already (text, numbers; see `stored`).
    """
    dialect = connection.dialect
    marker = markers(dialect, 1)
    as_array = dialect.name == "postgresql"
    found: list[Sequence[Any]] = []
    for start in range(0, len(keys), max(len(keys), 1) if as_array else IN_CHUNK):
        chunk = keys[start:] if as_array else keys[start : start + IN_CHUNK]
        test = f"= ANY({marker})" if as_array else f"IN ({markers(dialect, len(chunk))})"
        bound = (*params, list(chunk)) if as_array else (*params, *chunk)
        result = connection.exec_driver_sql(statement.format(in_keys=test, marker=marker), bound)
        if result.returns_rows:
            found += result.fetchall()
    return found


def markers(dialect: Dialect, count: int) -> str:
    """`count` bind-parameter markers in the driver's own style, for statements run with `exec_driver_sql`."""
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    return ", ".join(repeat(marker, count))


def stored(table: Table, name: str, value: Any, dialect: Dialect) -> Any:
    """`value` as the driver takes it for column `name` (what the column type's bind processor makes of it)."""
    process = _processor(table, name, dialect)
    return value if process is None or value is None else process(value)


def _processor(table: Table, name: str, dialect: Dialect) -> Any:
    return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
