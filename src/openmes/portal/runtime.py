"""What the portal's pages need at run time: the process's container, and a way to call the database off the loop.

NiceGUI keeps one app per process, so its page functions cannot be handed the container the way FastAPI
routes get `request.app.state`; `mount` sets it here once, and every page reads it through `container()`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from nicegui import run

from openmes.bootstrap import Container
from openmes.core.uow import request_id_var

P = ParamSpec("P")
R = TypeVar("R")

_container: Container | None = None


def install(container: Container) -> None:
    """Make `container` the one the pages use; refused a second time, since NiceGUI mounts once per process."""
    global _container  # noqa: PLW0603 (the one process-wide reference NiceGUI's global pages need)
    if _container is not None:
        raise RuntimeError("The portal is already mounted in this process; NiceGUI can be mounted only once.")
    _container = container


def container() -> Container:
    if _container is None:
        raise RuntimeError("The portal is not mounted: call openmes.portal.mount(app, container) first.")
    return _container


async def blocking(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a database call on NiceGUI's I/O threads so that one slow query does not freeze every browser.

    Each call gets its own request id, so the audit entries and log lines it writes can be found together,
    as for an HTTP request.
    """
    request_id = "portal-" + uuid.uuid4().hex[:24]

    def call() -> tuple[R]:
        token = request_id_var.set(request_id)
        try:
            return (fn(*args, **kwargs),)
        finally:
            request_id_var.reset(token)

    boxed = await run.io_bound(call)
    if boxed is None:  # NiceGUI answers None when the server is shutting down
        raise asyncio.CancelledError
    return boxed[0]
