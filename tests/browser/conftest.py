"""The console in a real browser: Debian's chromium driven by Playwright (never Playwright's own download),
against `facepipe console` run as an operator runs it, on a local stack of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from facepipe.identity.gallery import Gallery
from facepipe.identity.records import validate_records
from facepipe.local.stack import free_port, local_stack
from tests.integration.conftest import talking_to

CHROMIUM = os.environ.get("FACEPIPE_CHROMIUM", "/usr/bin/chromium")
# As root and on a closed network: no sandbox, no GPU, and none of Chromium's own calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def stack(gallery_path: Path, samples: Path):
    """A stack whose warm functions re-read the gallery every second (a label reaches them at once)."""
    from facepipe.aws.gallery_store import upload_photos

    with local_stack(workers=1, parameters={"GalleryRefreshSeconds": "1"}) as running, talking_to(running):
        gallery = Gallery.load(gallery_path)
        running.load(gallery=gallery, students=validate_records(samples / "students.json").records)
        upload_photos(samples / "people", gallery, bucket=running.outputs.bucket, s3=running.client("s3"))
        yield running


@pytest.fixture(scope="session")
def console(stack, tmp_path_factory: pytest.TempPathFactory):
    """`facepipe console` in a process of its own with the operator's settings; its address."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | stack.env()
    log = tmp_path_factory.mktemp("console") / "console.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "facepipe", "console", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    address = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(address + "/plots", timeout=5).raise_for_status()
            break
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the console did not start:\n{log.read_text()}")
            time.sleep(0.3)
    yield address
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium (or set FACEPIPE_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser, console):
    context = browser.new_context(base_url=console, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    yield opened
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where page screenshots go: FACEPIPE_SCREENSHOTS (docs/console to refresh the committed ones), else a
    temporary folder."""
    folder = Path(os.environ.get("FACEPIPE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
