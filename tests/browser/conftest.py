"""Browser fixtures: the API served for real (uvicorn on loopback) and Debian's Chromium driven
by Playwright. Playwright's own browser download is not reachable here: it launches the
system browser (`chromium`, installed by scripts/setup.sh)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from icone.embedded import free_port
from icone.runtime import running_api
from storage import apikeys

# Headless in a sandbox without network: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}  # the narrowest common Android viewport


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is missing: scripts/setup.sh installs it (apt chromium)")
    return path


# Package scope: Playwright's sync API keeps an asyncio loop running in this thread while it
# lives, and later tests call asyncio.run().
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def api_url(database: str) -> Iterator[str]:
    port = free_port()
    with running_api(database, "127.0.0.1", port):
        yield f"http://127.0.0.1:{port}"


def screenshot(page: Page, request: pytest.FixtureRequest, step: str) -> None:
    """Keep a picture of a step (test artifacts under .state/test-artifacts/browser/)."""
    shots = Path(request.config.rootpath) / ".state" / "test-artifacts" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{request.node.name}-{step}.png"), full_page=True)


@pytest.fixture
def admin_key(database: str) -> str:
    with psycopg.connect(database) as conn:
        return apikeys.create_key(conn, name="browser-admin", role="admin")


@pytest.fixture
def phone(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh phone-sized page (own storage); a screenshot of its last state is kept."""
    context: BrowserContext = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="fr-FR", service_workers="block"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    screenshot(page, request, "last")
    context.close()
    assert errors == [], f"JavaScript errors in the page: {errors}"
