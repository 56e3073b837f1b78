"""Imports every area's models so that Alembic sees the whole schema; the one place that lists them."""

from __future__ import annotations


def load_all_models() -> None:
    import openmes.core.models  # noqa: F401
    from openmes.acquisition import models as acquisition_models  # noqa: F401
    from openmes.definitions import models as definitions_models  # noqa: F401
    from openmes.resources import models as resources_models  # noqa: F401
