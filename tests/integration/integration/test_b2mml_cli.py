"""`openmes export b2mml <noun> [--out file]` writes the same V0701 document as the API."""

from __future__ import annotations

from pathlib import Path

from b2mml_schema import assert_valid
from typer.testing import CliRunner

from openmes.bootstrap import Container
from openmes.cli import app as cli


def test_export_to_a_file_and_to_stdout(plant: Container, tmp_path: Path) -> None:
    env = {"OPENMES_DATABASE_URL": plant.settings.resolved_database_url, "OPENMES_DATA_DIR": str(tmp_path)}
    target = tmp_path / "equipment.xml"
    result = CliRunner().invoke(cli, ["export", "b2mml", "Equipment", "--out", str(target)], env=env)
    assert result.exit_code == 0, result.output
    assert_valid(target.read_bytes())
    assert b"<ID>L1-CNC1</ID>" in target.read_bytes()
    printed = CliRunner().invoke(cli, ["export", "b2mml", "material-lot"], env=env)
    assert printed.exit_code == 0, printed.output
    assert_valid(printed.stdout_bytes)
    unknown = CliRunner().invoke(cli, ["export", "b2mml", "Spaceship"], env=env)
    assert unknown.exit_code == 1
    assert "OpenMES exports these B2MML nouns" in unknown.output
