"""Combining two summaries of one interval gives the summary of all its values (how a chart joins minute
summaries with the raw values the downsampling job has not reached yet)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmes.acquisition.timeseries import Bucket


def _summary(values: list[float]) -> Bucket:
    return Bucket(0, len(values), min(values), max(values), sum(values), values[0], values[-1])


@given(
    values=st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=2, max_size=50),
    cut=st.integers(min_value=1),
)
def test_an_earlier_and_a_later_summary_combine_into_the_summary_of_all_values(values: list[float], cut: int) -> None:
    cut = 1 + cut % (len(values) - 1)
    combined = _summary(values[:cut]).followed_by(_summary(values[cut:]))
    whole = _summary(values)

    assert (combined.start_ms, combined.count, combined.min, combined.max) == (0, whole.count, whole.min, whole.max)
    assert (combined.first, combined.last) == (values[0], values[-1])
    assert combined.mean == pytest.approx(whole.mean, rel=1e-9, abs=1e-3)
