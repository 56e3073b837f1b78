"""The one web UI over all areas (NiceGUI), mounted on the API's app by `openmes serve`."""

from __future__ import annotations

from fastapi import FastAPI

from openmes.bootstrap import Container


def mount(app: FastAPI, container: Container) -> None:
    """Placeholder until the portal lands: the API still serves."""
