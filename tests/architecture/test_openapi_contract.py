"""The REST API is a public contract (ARCHITECTURE.md): a change to it must be a reviewed change.

The snapshot in openapi.json is what integrators rely on. When a change to the API is intended, run
`OPENMES_UPDATE_SNAPSHOTS=1 python3 dev.py test tests/architecture` and commit the new snapshot with it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from openmes.app import create_app
from openmes.bootstrap import Container

SNAPSHOT = Path(__file__).with_name("openapi.json")


def test_the_openapi_document_matches_the_reviewed_snapshot(container: Container) -> None:
    current = json.dumps(create_app(container, run_background=False).openapi(), indent=1, sort_keys=True) + "\n"
    if os.environ.get("OPENMES_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), "no snapshot yet: run with OPENMES_UPDATE_SNAPSHOTS=1 once and commit it"
    assert current == SNAPSHOT.read_text(), (
        "the REST API changed; if intended, regenerate tests/architecture/openapi.json "
        "(OPENMES_UPDATE_SNAPSHOTS=1) and commit it with the change"
    )


def test_every_path_is_versioned_or_operational() -> None:
    paths = json.loads(SNAPSHOT.read_text())["paths"]
    unversioned = [
        path for path in paths if not path.startswith("/api/v1/") and path not in {"/healthz", "/readyz", "/metrics"}
    ]
    assert unversioned == []
