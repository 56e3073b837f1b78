"""The official B2MML V0701 schemas beside the repository (../shared/b2mml), loaded once, for validating."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from lxml import etree

REPOSITORY = Path(__file__).resolve().parents[3]
SHARED_B2MML = (REPOSITORY / ".." / "shared" / "b2mml").resolve()
FIXTURES = REPOSITORY / "tests" / "fixtures" / "b2mml"


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SHARED_B2MML / "schema" / "AllSchemas.xsd")))


def schema() -> etree.XMLSchema:
    """AllSchemas.xsd; the test is skipped (saying why) only when the shared folder is not there."""
    if not (SHARED_B2MML / "schema" / "AllSchemas.xsd").is_file():
        pytest.skip(f"the official B2MML schemas are not at {SHARED_B2MML}/schema (the shared/ folder beside the repo)")
    return _schema()


def assert_valid(document: bytes) -> None:
    """Fail with the schema's own messages when `document` is not valid V0701."""
    checker = schema()
    tree = etree.fromstring(document)
    if not checker.validate(tree):
        messages = "\n".join(f"line {error.line}: {error.message}" for error in checker.error_log)
        raise AssertionError(f"not valid B2MML V0701:\n{messages}\n{document.decode()}")


def examples() -> list[Path]:
    folder = SHARED_B2MML / "examples"
    if not folder.is_dir():
        pytest.skip(f"the official B2MML examples are not at {folder}")
    return sorted(folder.glob("*.xml"))
