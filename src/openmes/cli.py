"""The `openmes` command: serve the MES, run the demo, manage the database, users, tokens and audit trail."""

from __future__ import annotations

import getpass
import logging
import shutil
import sys
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from openmes import __version__
from openmes.bootstrap import (
    Container,
    build_container,
    ensure_admin,
    schema_is_current,
    tune_garbage_collector,
    upgrade_database,
)
from openmes.core import auth
from openmes.core.audit import verify_chain
from openmes.core.db import normalise_url
from openmes.core.errors import DomainError, InvalidInput
from openmes.core.logs import configure_logging
from openmes.core.settings import Settings, SettingsError, load_settings
from openmes.core.uow import Actor, UnitOfWork
from openmes.resources.imports import SUFFIXES, ImportKind, import_text

if TYPE_CHECKING:
    from openmes.demo import DemoMachines

T = TypeVar("T")

app = typer.Typer(
    name="openmes",
    help="OpenMES, an open-source Manufacturing Execution System. Settings come from OPENMES_* "
    "environment variables or openmes.toml (see README, Configuration).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
user_app = typer.Typer(
    help="Manage the people who log in: create, list, disable, enable, unlock.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens for machines, ERPs and scripts.", no_args_is_help=True)
audit_app = typer.Typer(help="The 21 CFR Part 11 audit trail.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
import_app = typer.Typer(
    help="Bulk import of master data from CSV or JSON (by file extension), and tag mappings from YAML: "
    "every row goes in, or none.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")
export_app = typer.Typer(help="Export master data (B2MML V0701) and the tag mapping (YAML).", no_args_is_help=True)
app.add_typer(export_app, name="export")

# No wrapping: scripts read paths and URLs from these lines, whatever the terminal's width.
out = Console(soft_wrap=True)
DEMO_MARKER = ".openmes-demo"


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"openmes: {message}", err=True)
    raise typer.Exit(code)


def settings(**overrides: object) -> Settings:
    try:
        loaded = load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc), 2)
    configure_logging(loaded.log_format, loaded.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return loaded


def cli_actor() -> Actor:
    """The command line is used by whoever has the server: the audit trail names the OS account."""
    who = getpass.getuser()
    return Actor(user_id=None, username=f"cli:{who}", printed_name=f"Command line ({who})")


def _version(value: bool) -> None:
    if value:
        out.print(f"openmes {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """OpenMES command line."""


def shown_url(cfg: Settings) -> str:
    """The database URL as messages show it: with the password masked."""
    return normalise_url(cfg.resolved_database_url).render_as_string(hide_password=True)


def first_line(exc: BaseException) -> str:
    """A driver's error in one line, for a message that must fit one line."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else exc.__class__.__name__


def _upgrade(cfg: Settings) -> None:
    try:
        upgrade_database(cfg)
    except Exception as exc:
        fail(f"cannot upgrade the database at {shown_url(cfg)}: {first_line(exc)}")


def _container(cfg: Settings, migrate: bool) -> Container:
    if migrate:
        _upgrade(cfg)
    container = build_container(cfg)
    try:
        with container.engine.connect():
            pass
    except Exception as exc:
        container.stop()
        fail(f"cannot reach the database at {shown_url(cfg)}: {first_line(exc)}")
    if not migrate and not schema_is_current(container):
        container.stop()
        fail(f"the database at {shown_url(cfg)} is not initialised or is outdated. Run `openmes db upgrade` first.")
    return container


def _run_server(cfg: Settings, banner: list[str], machines: Callable[[Container], DemoMachines] | None = None) -> None:
    """Serve until stopped; `machines` gives simulated machines that run as long as the server does (the demo)."""
    import uvicorn

    from openmes.app import create_app

    container = _container(cfg, migrate=True)
    generated = ensure_admin(container)
    if generated:
        banner.append(f"First start: created user 'admin' with password {generated}  (shown once; change it)")
    application = create_app(container, portal=True)
    simulation = machines(container) if machines is not None else None
    if simulation is not None:
        banner.append(f"Machines: {simulation.description}.")
    for line in banner:
        out.print(line, markup=False, highlight=False)
    out.print(f"OpenMES {__version__} at http://{cfg.host}:{cfg.port}  (API docs at /docs)", markup=False)
    if simulation is not None:
        simulation.start()
    tune_garbage_collector()
    try:
        uvicorn.run(application, host=cfg.host, port=cfg.port, log_config=None, access_log=False)
    finally:
        if simulation is not None:
            simulation.stop()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (OPENMES_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (OPENMES_PORT).")] = None,
) -> None:
    """Run the MES: migrate the database, then serve the API and the portal."""
    overrides = {key: value for key, value in {"host": host, "port": port}.items() if value is not None}
    _run_server(settings(**overrides), [])


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its SQLite file.")] = Path("openmes-demo"),
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Reuse the previous demo's data instead of starting fresh.")
    ] = False,
    speed: Annotated[
        float, typer.Option(min=0.01, help="The simulated machines run this many times faster than real time.")
    ] = 10.0,
    seed: Annotated[int, typer.Option(help="The same seed gives the same machine behaviour.")] = 1,
) -> None:
    """Start the MES with a demo plant, demo users and live simulated machines on a fresh SQLite file.

    No broker needed: without OPENMES_MQTT_URL the machines run inside the MES; with it they are
    Sparkplug B edge nodes on that broker.
    """
    from openmes.demo import DEMO_USERS, demo_machines, seed_demo

    if data_dir.exists() and any(data_dir.iterdir()) and not (data_dir / DEMO_MARKER).exists():
        fail(f"{data_dir} holds data that is not a demo's; pass another --data-dir so nothing is overwritten.")
    fresh = not keep or not (data_dir / DEMO_MARKER).exists()
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / DEMO_MARKER).write_text("created by `openmes demo`; safe to delete\n")
    overrides: dict[str, object] = {"data_dir": data_dir, "database_url": None}
    if port is not None:
        overrides["port"] = port
    cfg = settings(**overrides)
    banner = [f"Demo data in {data_dir}/ ({'fresh' if fresh else 'kept'}). Demo users:"]
    if fresh:
        _upgrade(cfg)
        container = build_container(cfg)
        seed_demo(container)
        container.stop()
    banner += [
        f"  {name:<12} password {password:<20} roles {', '.join(roles)}" for name, _, roles, password in DEMO_USERS
    ]
    _run_server(cfg, banner, partial(demo_machines, speed=speed, seed=seed))


@app.command()
def simulate(
    broker: Annotated[str | None, typer.Option(help="MQTT broker URL (default: OPENMES_MQTT_URL).")] = None,
    speed: Annotated[float, typer.Option(min=0.01, help="Machines run this many times faster than real time.")] = 1.0,
    seed: Annotated[int, typer.Option(help="The same seed gives the same machine behaviour.")] = 1,
    opcua_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Serve L2-TEST over OPC UA on this port; 0: over Sparkplug instead.")
    ] = 4840,
    group: Annotated[str, typer.Option(help="Sparkplug group id of the edge nodes.")] = "OpenMES-Demo",
    primary_host: Annotated[
        str | None, typer.Option(help="Publish only while this Sparkplug host application's STATE is online.")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds (default: until Ctrl+C).")
    ] = None,
) -> None:
    """Run the demo plant's machines: one Sparkplug B edge node per line, L2-TEST as an OPC UA server."""
    import signal
    import threading
    from urllib.parse import urlsplit

    from openmes.acquisition.simulate_opcua import DEMO_OPCUA_MACHINE, MachineServer
    from openmes.acquisition.simulate_sparkplug import EdgeNode, device_id, plant_nodes, wall_clock_ms
    from openmes.acquisition.simulator import DEMO_PLANT, DEMO_TAG_MAPPING

    cfg = settings(**({"mqtt_url": broker} if broker else {}))
    logging.getLogger("asyncua").setLevel(logging.WARNING)  # its INFO lines narrate building the address space
    if cfg.mqtt_url is None:
        fail(
            "simulate publishes to an MQTT broker: pass --broker mqtt://host:1883 or set OPENMES_MQTT_URL. "
            "Without a broker, `openmes demo` runs the same machines inside the MES.",
            2,
        )
    nodes: list[EdgeNode] = []
    server: MachineServer | None = None
    for node_id, machines in plant_nodes(DEMO_PLANT, seed, wall_clock_ms(), speed).items():
        if opcua_port:
            served = next((m for m in machines if device_id(m) == DEMO_OPCUA_MACHINE), None)
            if served is not None:
                machines.remove(served)
                server = MachineServer(served, opcua_port)
        nodes.append(EdgeNode(cfg.mqtt_url, group, node_id, machines, primary_host=primary_host))
    if server is not None:
        try:
            server.start()
        except RuntimeError as exc:
            fail(f"{exc}; pass another --opcua-port, or 0 to publish {DEMO_OPCUA_MACHINE} over Sparkplug.")
        out.print(f"{DEMO_OPCUA_MACHINE} as OPC UA server at {server.endpoint}", markup=False, highlight=False)
    for node in nodes:
        node.start()
        out.print(
            f"{node.node} as Sparkplug edge node spBv1.0/{group}/+/{node.node}: {', '.join(node.devices)}",
            markup=False,
            highlight=False,
        )
    at = urlsplit(cfg.mqtt_url)
    out.print(f"Broker {at.hostname}:{at.port or 1883}, speed {speed:g}x, seed {seed}.", markup=False, highlight=False)
    out.print(f"Map the signals with: openmes import tags {DEMO_TAG_MAPPING}", markup=False, highlight=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        for node in nodes:
            node.stop()
        if server is not None:
            server.stop()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or update the database schema to this version of OpenMES (safe to run again)."""
    cfg = settings()
    _upgrade(cfg)
    out.print(f"Database at {shown_url(cfg)} is up to date.", markup=False, highlight=False)


def _with_uow(action: Callable[[UnitOfWork], T]) -> T:
    container = _container(settings(), migrate=False)
    try:
        with container.uow(cli_actor()) as uow:
            result = action(uow)
            uow.commit()
        return result
    except DomainError as exc:
        fail(exc.detail)
    finally:
        container.stop()


def _read_new_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask for the password: pipe it in with --password-stdin.")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        fail("the two passwords differ; nothing was created.")
    return first


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Login name, e.g. jdoe (a-z, 0-9, . _ -).")],
    name: Annotated[str, typer.Option("--name", help="Printed name shown on signatures, e.g. 'Jane Doe'.")],
    role: Annotated[list[str], typer.Option("--role", help=f"Role, repeatable: {auth.ROLE_NAMES}.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create a user who can log in to the portal and sign records."""
    password = _read_new_password(password_stdin)
    _with_uow(lambda uow: auth.create_user(uow, username, name, role, password))
    out.print(f"Created user {username.lower()} ({', '.join(role)}).", markup=False, highlight=False)


@user_app.command("list")
def user_list() -> None:
    """List users with their roles and state."""
    users = _with_uow(auth.list_users)
    table = Table("username", "printed name", "roles", "state")
    for user in users:
        state = "active" if user.active else "disabled"
        if user.locked_until is not None:
            state += f", locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
        table.add_row(user.username, user.printed_name, ", ".join(user.roles), state)
    out.print(table)


@user_app.command("disable")
def user_disable(
    username: str, reason: Annotated[str | None, typer.Option(help="Why; kept in the audit trail.")] = None
) -> None:
    """Stop a user from logging in (their history stays; users are never deleted)."""
    _with_uow(lambda uow: auth.set_user_active(uow, username, False, reason))
    out.print(f"Disabled user {username}.", markup=False, highlight=False)


@user_app.command("enable")
def user_enable(
    username: str, reason: Annotated[str | None, typer.Option(help="Why; kept in the audit trail.")] = None
) -> None:
    """Let a disabled user log in again."""
    _with_uow(lambda uow: auth.set_user_active(uow, username, True, reason))
    out.print(f"Enabled user {username}.", markup=False, highlight=False)


@user_app.command("unlock")
def user_unlock(
    username: str, reason: Annotated[str | None, typer.Option(help="Why; kept in the audit trail.")] = None
) -> None:
    """Lift a lockout caused by repeated wrong passwords."""
    _with_uow(lambda uow: auth.unlock_user(uow, username, reason))
    out.print(f"Unlocked user {username}.", markup=False, highlight=False)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. erp-connector.")] = "cli",
    expires_days: Annotated[int | None, typer.Option(min=1, help="Expire after this many days.")] = None,
) -> None:
    """Create an API token. The token is printed once, alone on the last line (for scripts)."""

    def create(uow: UnitOfWork) -> tuple[int, str]:
        expires = uow.clock.now() + timedelta(days=expires_days) if expires_days else None
        token, secret = auth.create_api_token(uow, user, name, expires)
        return token.id, secret

    token_id, secret = _with_uow(create)
    typer.echo(f"Token {token_id} for {user}; store it now, it is not shown again:", err=True)
    print(secret)  # noqa: T201


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's number, from `openmes token list`.")],
    reason: Annotated[str | None, typer.Option(help="Why; kept in the audit trail.")] = None,
) -> None:
    """Revoke an API token at once."""
    _with_uow(lambda uow: auth.revoke_api_token(uow, token_id, reason))
    out.print(f"Revoked token {token_id}.", markup=False, highlight=False)


@token_app.command("list")
def token_list() -> None:
    """List API tokens (never their secrets)."""
    rows = _with_uow(auth.list_api_tokens)
    table = Table("id", "user", "name", "created", "expires", "state")
    for token, username in rows:
        state = "revoked" if token.revoked_at else "active"
        expires = f"{token.expires_at:%Y-%m-%d}" if token.expires_at else "never"
        table.add_row(str(token.id), username, token.name, f"{token.created_at:%Y-%m-%d}", expires, state)
    out.print(table)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit trail's hash chain; exits 1 and names the first broken entry if it was tampered with."""
    report = _with_uow(lambda uow: verify_chain(uow.session))
    if report.intact:
        out.print(
            f"Audit trail intact: {report.checked} entries verified; the last entry's hash is {report.last_hash}.",
            markup=False,
            highlight=False,
        )
        return
    fail(f"AUDIT TRAIL BROKEN at entry {report.broken_entry_id}: {report.problem}")


def _import_file(kind: ImportKind, file: Path) -> None:
    """Import one file in one transaction, with a progress bar; on refusal print every bad row."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    fmt = SUFFIXES.get(file.suffix.lower())
    if fmt is None:
        fail(f"{file} is neither .csv nor .json; name the file by its format.")
    text = file.read_text(encoding="utf-8-sig")
    container = _container(settings(), migrate=False)
    columns = (TextColumn(f"importing {kind}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=out, transient=True) as bar, container.uow(cli_actor()) as uow:
            task = bar.add_task(kind.value, total=None)
            report = import_text(
                uow, kind, text, fmt, lambda done, total: bar.update(task, completed=done, total=total)
            )
            uow.commit()
    except InvalidInput as exc:
        for problem in exc.fields:
            typer.echo(f"{file}: {problem.field}: {problem.message}", err=True)
        fail(exc.detail)
    except DomainError as exc:
        fail(exc.detail)
    finally:
        container.stop()
    out.print(f"Imported {report.created} {kind} record(s) from {file}.", markup=False, highlight=False)


def _add_import_command(kind: ImportKind) -> None:
    def command(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .csv (header row) or .json file.")],
    ) -> None:
        _import_file(kind, file)

    import_app.command(kind.value, help=f"Import {kind} from a CSV or JSON file (docs/resources.md).")(command)


for _kind in ImportKind:
    _add_import_command(_kind)


@import_app.command("tags")
def import_tags(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A tag mapping .yaml file.")],
) -> None:
    """Import a tag mapping file (docs/acquisition.md): every tag is created or updated, or none is."""
    from openmes.acquisition.service import import_tag_mappings

    text = file.read_text(encoding="utf-8-sig")
    container = _container(settings(), migrate=False)
    try:
        with container.uow(cli_actor()) as uow:
            report = import_tag_mappings(uow, text)
            uow.commit()
    except InvalidInput as exc:
        for problem in exc.fields:
            typer.echo(f"{file}: {problem.field}: {problem.message}", err=True)
        fail(exc.detail)
    except DomainError as exc:
        fail(exc.detail)
    finally:
        container.stop()
    out.print(
        f"Imported tags from {file}: {report.created} created, {report.updated} updated, {report.unchanged} unchanged.",
        markup=False,
        highlight=False,
    )


@export_app.command("b2mml")
def export_b2mml(
    noun: Annotated[
        str,
        typer.Argument(
            help="Equipment, EquipmentClass, Person, PersonnelClass, TestSpecification, TestResult, "
            "MaterialClass, MaterialDefinition, MaterialLot, ProcessSegment, OperationsDefinition or "
            "WorkMaster (also as work-masters, qualification-test-specifications, ...)."
        ),
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of standard output.")] = None,
) -> None:
    """Export every object of a noun as a V0701 Sync document (docs/b2mml.md)."""
    from openmes.integration.service import export_document

    document = _with_uow(lambda uow: export_document(uow, noun, frozenset({auth.Role.ADMIN})))
    if out is None:
        sys.stdout.buffer.write(document)
        return
    out.write_bytes(document)
    out_message = f"Wrote {noun} to {out} ({len(document)} bytes)."
    typer.echo(out_message, err=True)


@export_app.command("tags")
def export_tags(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of standard output.")] = None,
) -> None:
    """Export the tag mapping as the YAML file `openmes import tags` reads, to keep it under version control."""
    from openmes.acquisition.service import export_tag_mappings

    document = _with_uow(export_tag_mappings)
    if out is None:
        sys.stdout.write(document)
        return
    out.write_text(document, encoding="utf-8")
    typer.echo(f"Wrote the tag mapping to {out} ({len(document)} bytes).", err=True)


def main() -> None:
    app()
