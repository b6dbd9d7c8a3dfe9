"""Shared fixtures: the book built once per session, served over http, and a headless browser."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: Test artefacts (git-ignored): the book built by the tests, screenshots.
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def built_book() -> Path:
    """The html folder of the book, built once per session exactly as the README builds it.

    ``scripts/build-book.sh`` runs ``jupyter-book build . -W -n --keep-going`` (warnings fail
    the build) and adds the site's MathJax and offline copies. It builds into
    ``artifacts/book/`` with ``--all`` (every page re-read, so every warning is seen again),
    while the executed chapters come from that folder's jupyter-cache.
    """
    out = ARTIFACTS / "book"
    proc = subprocess.run(
        ["bash", "scripts/build-book.sh", "--all", "--path-output", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"the strict book build failed (rc {proc.returncode}):\n"
            + (proc.stdout + proc.stderr)[-6000:],
            pytrace=False,
        )
    html = out / "_build" / "html"
    assert (html / "index.html").is_file(), f"no index.html in {html}"
    return html


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the base class's name)
        pass


@pytest.fixture(scope="session")
def site_url(built_book):
    """The built book served over http on 127.0.0.1 (a thread), as ``http://127.0.0.1:PORT/``."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (never Playwright's own browser)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `bash scripts/install.sh test` (as root)", pytrace=False
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"],
        )
        yield chromium
        chromium.close()
