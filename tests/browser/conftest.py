"""Browser fixtures: Playwright's sync API driving Debian's headless Chromium."""

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio event loop in the test's thread, so Django sees
# a running loop there and refuses ORM calls with SynchronousOnlyOperation. The test's
# own thread drives the browser and makes plain blocking ORM calls (and pytest-django
# flushes the database from it); none of that is async Django code, so it is safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("FILEMONITOR_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (the event loop ends with the module)."""
    if not (shutil.which(CHROMIUM) or os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    # A real worker and a shared 2-core CI machine: wait longer than Playwright's 5 s.
    sync_api.expect.set_options(timeout=20_000)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page; uncaught page errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()
    assert not page.errors, f"JavaScript errors on the page: {page.errors}"


@pytest.fixture
def artifacts():
    """Where screenshots go: ``test-artifacts/`` at the repository root (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
