"""SQLite's write-ahead log is copied into the database by the checkpointer, not by a committing writer."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from openmes.core.db import WalCheckpointer, make_engine


def _write(engine: object, rows: int) -> None:
    with engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
        connection.execute(text("INSERT INTO t (x) VALUES (:x)"), [{"x": number} for number in range(rows)])


def test_a_checkpoint_copies_every_frame_of_the_log_into_the_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'mes.db'}")
    holder = engine.connect()  # the log is kept (not dropped) while a connection stays open, as in a server
    try:
        _write(engine, 20_000)
        in_log, copied = WalCheckpointer(engine).checkpoint()
    finally:
        holder.close()
        engine.dispose()

    assert in_log > 0
    assert copied == in_log


def test_the_background_thread_checkpoints_what_writers_commit(tmp_path: Path) -> None:
    database = tmp_path / "mes.db"
    engine = make_engine(f"sqlite:///{database}")
    checkpointer = WalCheckpointer(engine, interval_s=0.05)
    holder = engine.connect()
    try:
        _write(engine, 20_000)
        # Far below the autocheckpoint limit: the rows are in the log only, the database file is still small.
        before = database.stat().st_size
        checkpointer.start()
        deadline = time.monotonic() + 10
        while database.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.05)
        after = database.stat().st_size
    finally:
        checkpointer.stop()
        holder.close()
        engine.dispose()

    assert after > before


def test_the_checkpointer_does_nothing_on_postgresql_engines(database_url: str) -> None:
    engine = make_engine(database_url)
    checkpointer = WalCheckpointer(engine)
    checkpointer.start()
    running = checkpointer._thread is not None
    checkpointer.stop()
    engine.dispose()

    assert running == (engine.dialect.name == "sqlite")
