"""Writing process values the way the ingest pipeline does: a series from the catalogue, a batch per transaction."""

from __future__ import annotations

from collections.abc import Sequence

from openmes.acquisition.timeseries import SeriesCatalogue, SeriesDefinition, ValueRow, append_values
from openmes.acquisition.timestamps import datetime_to_ms
from openmes.bootstrap import Container


def now_ms(container: Container) -> int:
    return datetime_to_ms(container.clock.now())


def make_series(container: Container, equipment_id: str = "CNC-01", name: str = "spindle temperature") -> int:
    definition = SeriesDefinition(equipment_id, name, unit="CEL", limit_low=20.0, limit_high=80.0)
    with container.uow() as uow:
        series_id = SeriesCatalogue().ensure_series(uow.session.connection(), definition, uow.clock.now())
        uow.commit()
    return series_id


def append(container: Container, rows: Sequence[ValueRow], at_ms: int | None = None) -> int:
    """Append one batch in its own transaction, as the ingest pipeline does; returns how many were kept."""
    with container.uow() as uow:
        kept = append_values(uow.session.connection(), rows, now_ms(container) if at_ms is None else at_ms)
        uow.commit()
    return kept
