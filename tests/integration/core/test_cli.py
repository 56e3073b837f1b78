"""The real `openmes` command in a subprocess: audit verify against tampering, tokens, users, settings errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, insert, select, text, update

from openmes.bootstrap import Container
from openmes.core import auth
from openmes.core.audit import AuditRecord, chain_entries, hash_entry
from openmes.core.models import AuditChainHead, AuditEntry, User
from openmes.core.uow import Actor

OPENMES = Path(sys.executable).with_name("openmes")
ENTRIES = 6


def run_cli(
    args: list[str], cwd: Path, database_url: str | None = None, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `openmes` as an operator would, with no OPENMES_* settings but the ones given."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("OPENMES_")}
    clean["OPENMES_DATA_DIR"] = str(cwd / "openmes-data")
    if database_url:
        clean["OPENMES_DATABASE_URL"] = database_url
    clean.update(env)
    return subprocess.run(
        [str(OPENMES), *args], input=stdin, capture_output=True, text=True, env=clean, cwd=cwd, timeout=120, check=False
    )


def _fill(container: Container) -> None:
    for number in range(1, ENTRIES + 1):
        with container.uow(Actor(7, "ada", "Ada Lovelace")) as uow:
            uow.audit("update", "lot", f"LOT-{number}", {"qty": (number - 1, number)}, "recount")
            uow.commit()


@pytest.fixture
def dba(container: Container) -> Iterator[Callable[[Any], None]]:
    """A malicious database administrator: drops the append-only trigger, then edits the trail at will."""
    postgres = container.engine.dialect.name == "postgresql"
    with container.engine.begin() as connection:
        if postgres:
            connection.execute(text("DROP TRIGGER core_audit_entry_append_only ON core_audit_entry"))
        else:
            connection.execute(text("DROP TRIGGER core_audit_entry_no_update"))
            connection.execute(text("DROP TRIGGER core_audit_entry_no_delete"))

    def tamper(statement: Any) -> None:
        with container.session_factory() as session, session.begin():
            session.execute(statement)

    yield tamper
    if postgres:  # the PostgreSQL database outlives this test: put the guard back
        with container.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TRIGGER core_audit_entry_append_only BEFORE UPDATE OR DELETE ON core_audit_entry "
                    "FOR EACH ROW EXECUTE FUNCTION core_audit_entry_append_only()"
                )
            )


def test_verify_passes_an_intact_trail(container: Container, database_url: str, tmp_path: Path) -> None:
    _fill(container)
    result = run_cli(["audit", "verify"], tmp_path, database_url)
    assert result.returncode == 0, result.stderr
    assert f"Audit trail intact: {ENTRIES} entries verified" in result.stdout
    with container.session_factory() as session:
        head = session.get(AuditChainHead, 1)
    assert head is not None
    assert head.last_hash in result.stdout  # printed so that it can be kept elsewhere as an anchor


def _recomputed_edit(container: Container) -> Any:
    with container.session_factory() as session:
        entry = session.get(AuditEntry, 3)
        assert entry is not None
        entry.reason = "nothing happened"
        return update(AuditEntry).where(AuditEntry.id == 3).values(reason=entry.reason, entry_hash=hash_entry(entry))


def _forged_insert(container: Container) -> Any:
    with container.session_factory() as session:
        last = session.get(AuditEntry, ENTRIES)
        assert last is not None
        record = AuditRecord(7, "ada", "Ada Lovelace", "delete", "lot", "LOT-1", {}, "cleanup", None)
        [forged] = chain_entries([record], last.recorded_at, last.id, last.entry_hash)
    values = {column.key: getattr(forged, column.key) for column in AuditEntry.__table__.columns}
    return insert(AuditEntry).values(**values)


TAMPERING: dict[str, tuple[Callable[[Container], Any], int]] = {
    "edited reason": (lambda c: update(AuditEntry).where(AuditEntry.id == 3).values(reason="forged"), 3),
    "edited old/new values": (lambda c: update(AuditEntry).where(AuditEntry.id == 3).values(changes={}), 3),
    "edited signer name": (lambda c: update(AuditEntry).where(AuditEntry.id == 2).values(printed_name="Eve"), 2),
    "edited with recomputed hash": (_recomputed_edit, 3),
    "deleted from the middle": (lambda c: delete(AuditEntry).where(AuditEntry.id == 3), 3),
    "deleted the tail": (lambda c: delete(AuditEntry).where(AuditEntry.id == ENTRIES), ENTRIES),
    "inserted a row": (_forged_insert, ENTRIES + 1),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_verify_names_the_first_broken_entry(
    container: Container, database_url: str, tmp_path: Path, dba: Callable[[Any], None], case: str
) -> None:
    _fill(container)
    make_statement, broken = TAMPERING[case]
    dba(make_statement(container))
    result = run_cli(["audit", "verify"], tmp_path, database_url)
    assert result.returncode == 1
    assert f"AUDIT TRAIL BROKEN at entry {broken}:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_token_create_prints_the_token_alone_on_the_last_line(
    container: Container, database_url: str, tmp_path: Path, client: TestClient, admin: auth.Principal
) -> None:
    result = run_cli(["token", "create", "--user", "admin", "--name", "erp-connector"], tmp_path, database_url)
    assert result.returncode == 0, result.stderr
    token = result.stdout.splitlines()[-1]
    assert token.startswith("omes_")
    assert token == token.strip()
    assert token not in result.stderr
    assert "not shown again" in result.stderr
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["username"] == "admin"
    with container.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "api_token")).all()[-1]
    assert entry.username.startswith("cli:")
    assert entry.user_id is None


def test_token_create_for_an_unknown_user_fails_in_one_line(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    result = run_cli(["token", "create", "--user", "nobody"], tmp_path, database_url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nobody" in result.stderr


def test_user_create_and_unlock_from_the_command_line(
    container: Container, database_url: str, tmp_path: Path, client: TestClient
) -> None:
    args = ["user", "create", "jdoe", "--name", "Jane Doe", "--role", "quality", "--password-stdin"]
    result = run_cli(args, tmp_path, database_url, stdin="long-enough-pw\n")
    assert result.returncode == 0, result.stderr
    for _ in range(container.login_policy.attempts):
        client.post("/api/v1/auth/login", json={"username": "jdoe", "password": "wrong-password"})
    assert client.post("/api/v1/auth/login", json={"username": "jdoe", "password": "long-enough-pw"}).status_code == 423
    unlocked = run_cli(["user", "unlock", "jdoe", "--reason", "identity checked"], tmp_path, database_url)
    assert unlocked.returncode == 0, unlocked.stderr
    assert client.post("/api/v1/auth/login", json={"username": "jdoe", "password": "long-enough-pw"}).status_code == 200
    with container.session_factory() as session:
        user = session.scalars(select(User).where(User.username == "jdoe")).one()
        assert user.password_hash.startswith("$argon2")


def test_a_short_password_is_refused_and_nothing_is_created(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    args = ["user", "create", "jdoe", "--name", "Jane Doe", "--role", "operator", "--password-stdin"]
    result = run_cli(args, tmp_path, database_url, stdin="short\n")
    assert result.returncode == 1
    assert "password" in result.stderr
    with container.session_factory() as session:
        assert session.scalars(select(User)).all() == []


# --- settings: a mistake stops the command with exit code 2 and one line naming the setting ---------------

BAD_SETTINGS = {
    "OPENMES_PORT": ("not-a-port", "OPENMES_PORT"),
    "OPENMES_SITE_TIMEZONE": ("Mars/Olympus_Mons", "OPENMES_SITE_TIMEZONE"),
    "OPENMES_DATABASE_URL": ("mysql://root@localhost/mes", "OPENMES_DATABASE_URL"),
    "OPENMES_MQTT_URL": ("http://broker:1883", "OPENMES_MQTT_URL"),
    "OPENMES_LOCKOUT_ATTEMPTS": ("0", "OPENMES_LOCKOUT_ATTEMPTS"),
}


@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"]])
@pytest.mark.parametrize("variable", list(BAD_SETTINGS))
def test_a_wrong_setting_stops_the_command_naming_it(tmp_path: Path, command: list[str], variable: str) -> None:
    value, named = BAD_SETTINGS[variable]
    result = run_cli(command, tmp_path, **{variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "openmes-data").exists()


@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"]])
def test_an_unknown_key_in_the_config_file_stops_the_command(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "openmes.toml").write_text('site_timezone = "Europe/Berlin"\nlockout_attemps = 3\n')
    result = run_cli(command, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "openmes: unknown setting 'lockout_attemps' in openmes.toml (check the spelling)"
    ]


def test_a_broken_or_missing_config_file_stops_the_command(tmp_path: Path) -> None:
    (tmp_path / "openmes.toml").write_text("port = [\n")
    result = run_cli(["db", "upgrade"], tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "openmes.toml is not valid TOML" in result.stderr
    result = run_cli(["db", "upgrade"], tmp_path, OPENMES_CONFIG=str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert "OPENMES_CONFIG" in result.stderr


def test_the_config_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    from_file = tmp_path / "from-file.db"
    (tmp_path / "openmes.toml").write_text(f'database_url = "sqlite:///{from_file}"\nport = 8123\n')
    result = run_cli(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert str(from_file) in result.stdout
    assert from_file.exists()

    elsewhere = tmp_path / "etc" / "site.toml"
    elsewhere.parent.mkdir()
    other = tmp_path / "from-other-file.db"
    elsewhere.write_text(f'database_url = "sqlite:///{other}"\n')
    result = run_cli(["db", "upgrade"], tmp_path, OPENMES_CONFIG=str(elsewhere))
    assert result.returncode == 0, result.stderr
    assert other.exists()

    from_env = tmp_path / "from-env.db"
    result = run_cli(["db", "upgrade"], tmp_path, database_url=f"sqlite:///{from_env}", OPENMES_PORT="not-a-port")
    assert result.returncode == 2  # the environment's bad port wins over the file's good one
    result = run_cli(["db", "upgrade"], tmp_path, database_url=f"sqlite:///{from_env}")
    assert result.returncode == 0, result.stderr
    assert from_env.exists()
    assert str(from_env) in result.stdout


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://mes:s3cret-pw@127.0.0.1:9/mes"
    for command in (["db", "upgrade"], ["audit", "verify"], ["user", "list"]):
        result = run_cli(command, tmp_path, database_url=url)
        assert result.returncode == 1
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "s3cret-pw" not in result.stderr
        assert "127.0.0.1:9" in result.stderr
