"""Bulk work (imports, large commits, machine data), where per-row overhead is most of the time.

Such work allocates millions of short-lived objects that form no cycles. Python's cyclic collector
rescans them again and again while they pile up; pausing it for the span of the bulk work made a
100,000-lot import about 25% faster (benchmarks/bench_import_lots.py).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Dialect, Table


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
    """Insert `rows` with one driver-level executemany, each value through its column type once.

    SQLAlchemy's own executemany rebuilds every row's parameters through its compiler, about a third
    of a bulk insert's time; here each column's bind processor is looked up once and applied directly.
    `constants` are values shared by every row (a timestamp, who recorded it), processed only once;
    a row's own value under a constant's name is ignored.
    """
    if not rows:
        return
    dialect = connection.dialect
    fixed = {name: _stored(table, name, value, dialect) for name, value in (constants or {}).items()}
    columns = [name for name in rows[0] if name not in fixed]
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    names = [*columns, *fixed]
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    statement = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marker for _ in names)})"  # noqa: S608
    shared = tuple(fixed.values())
    if not any(processors):
        values = [(*(row[name] for name in columns), *shared) for row in rows]
    else:
        pairs = list(zip(columns, processors, strict=True))
        values = [
            (
                *(row[name] if process is None or row[name] is None else process(row[name]) for name, process in pairs),
                *shared,
            )
            for row in rows
        ]
    connection.exec_driver_sql(statement, values)


def _stored(table: Table, name: str, value: Any, dialect: Dialect) -> Any:
    process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    return value if process is None or value is None else process(value)
