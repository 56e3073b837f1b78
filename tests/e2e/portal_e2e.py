"""What the portal's end-to-end tests share: the demo server they drive, Chromium's settings and small steps.

The fixtures built on these are in conftest.py; each test module gets a server of its own, so that what
one module changes in the demo plant does not surprise another.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import FloatRect, Locator, Page, ViewportSize

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
TABLET: ViewportSize = {"width": 800, "height": 1280}
LOCKOUT_ATTEMPTS = 3
ADMIN = ("admin", "admin-demo-pw")


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path
    env: dict[str, str]

    def cli(self, *args: str) -> str:
        """Run `openmes ...` against the server's data directory; returns stdout."""
        result = subprocess.run(
            [str(BIN / "openmes"), *args],
            env=self.env,
            cwd=self.data_dir.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def token(self) -> str:
        return self.cli("token", "create", "--user", "admin").strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_demo(base: Path, *options: str, settings: Mapping[str, str] | None = None) -> Iterator[Server]:
    """`openmes demo` on a fresh SQLite file and a free port, with a short lockout to test it quickly.

    `options` go to `openmes demo` (e.g. `--speed 30`), `settings` are further OPENMES_* variables.
    """
    data_dir = base / "demo"
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("OPENMES_")}
    env |= {"OPENMES_DATA_DIR": str(data_dir), "OPENMES_LOCKOUT_ATTEMPTS": str(LOCKOUT_ATTEMPTS), **(settings or {})}
    log = (base / "server.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "openmes"), "demo", "--data-dir", str(data_dir), "--port", str(port), *options],
        env=env,
        cwd=base,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"openmes demo did not start:\n{(base / 'server.log').read_text()}")
        time.sleep(0.2)
    yield Server(url, data_dir, env)
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def screenshot(page: Page, name: str) -> None:
    """Keep a screenshot for people to look at; the docs' copies change only when asked to."""
    folder = ROOT / ("docs/img" if os.environ.get("OPENMES_UPDATE_DOCS_IMAGES") == "1" else "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"portal-{name}.png"))


def fill_login(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def log_in(page: Page, server: Server, username: str, password: str) -> None:
    page.goto(f"{server.url}/login")
    fill_login(page, username, password)
    page.wait_for_url(f"{server.url}/")


def settled_box(locator: Locator, timeout: float = 10.0) -> FloatRect | None:
    """The element's box once it has one: a tree the page re-renders while loading is briefly without."""
    deadline = time.monotonic() + timeout
    while (box := locator.bounding_box()) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return box


def touch_size(box: FloatRect | None) -> bool:
    """At least 44 x 44 px, the smallest target a gloved finger hits reliably."""
    return box is not None and box["height"] >= 44 and box["width"] >= 44
