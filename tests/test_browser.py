"""The real app in a real browser: streamlit run + Debian chromium through Playwright.

Opens the demo, trains a short run (2 epochs, switching pages while it trains), visits every page
and checks its key elements; screenshots go to tests/_artifacts/screenshots/ (git-ignored). The
server is always stopped. Skipped only when /usr/bin/chromium is absent (CI installs it:
scripts/setup.sh --with-browser).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "tests" / "_artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} not found; install Debian's chromium (apt-get install -y chromium, or "
                              "scripts/setup.sh --with-browser)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = dict(os.environ, MOTOR_LAB_HOME=str(tmp_path / "lab"), MOTOR_LAB_UMAP="0", MOTOR_LAB_UMAP_WARMUP="0",
               MOTOR_LAB_TEST_SETTINGS=json.dumps({"train.epochs": 2}), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless=true",
                             "--server.address=127.0.0.1", f"--server.port={port}"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"the server did not start:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield url, tmp_path / "server.log"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)
        log.close()


def settle(page, timeout=60_000) -> None:
    """Wait until Streamlit has finished the current run (the status widget is gone)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout)
    page.wait_for_timeout(500)


def nav(page, name: str) -> None:
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", name=name, exact=True).first.wait_for(timeout=60_000)
    settle(page)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_errors(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, errors.all_inner_texts()


def test_demo_train_and_every_page_in_chromium(server):
    from playwright.sync_api import sync_playwright

    url, log = server
    t0 = time.time()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(url, timeout=60_000)
            page.get_by_text("Bundled demo").wait_for(timeout=90_000)
            settle(page)
            page.get_by_role("button", name="Open the demo dataset").click()
            settle(page)
            assert page.get_by_test_id("stMetric").count() >= 6
            assert page.get_by_test_id("stDataFrame").count() >= 2
            no_errors(page)
            shot(page, "1-data")

            nav(page, "Train")
            page.get_by_role("button", name="Train", exact=True).click()
            page.get_by_text("epoch").first.wait_for(timeout=60_000)
            shot(page, "2-train-running")
            nav(page, "Data")  # switching pages and touching widgets does not stop the job
            page.get_by_text("Upload a dataset (prepared features)").click()
            nav(page, "Train")
            page.get_by_text("Training finished").wait_for(timeout=300_000)
            settle(page)
            assert page.locator(".js-plotly-plot").count() == 2
            no_errors(page)
            shot(page, "3-train-done")

            expected = {"Tokens": 3, "Attention": 3, "Recommend": 0, "Compare": 4, "Runs": 0}
            for name, plots in expected.items():
                nav(page, name)
                page.wait_for_timeout(800)
                assert page.locator(".js-plotly-plot").count() >= plots, name
                assert page.get_by_test_id("stDataFrame").count() >= 1 or name == "Attention", name
                no_errors(page)
                shot(page, f"4-{name.lower()}")
            assert page.get_by_text("This run is open on the explore pages").count() == 1  # the run is listed
        finally:
            browser.close()
    assert "Traceback" not in log.read_text()
    print(f"browser flow took {time.time() - t0:.0f} s")
