"""A real uvicorn server on a free loopback port, in a thread, and a headless Chromium page on it."""

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager

import pytest
import uvicorn


@contextmanager
def live_server(app):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs Chromium and sets this, so there a browser test fails instead of skipping when the browser is missing.
REQUIRED = os.environ.get("OCULARIS_REQUIRE_BROWSER") == "1"
needs_browser = pytest.mark.skipif(not CHROMIUM and not REQUIRED, reason="Chromium is not installed")
# Flags that keep Chromium from reaching for the network at start (these tests need loopback only).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextmanager
def page_at(app):
    """A headless Chromium page showing `app`'s web page, served live on loopback."""
    from playwright.sync_api import sync_playwright

    with live_server(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            yield page
        finally:
            browser.close()
