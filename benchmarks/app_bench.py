"""App benchmark: server start to first page, default demo training, each page's time to drawn.

    python benchmarks/app_bench.py [--epochs N] [--keep] [--start-only]

Drives the real app (``streamlit run``) with Debian chromium through Playwright, exactly as a
user would, with the app's real defaults (the 'quick' preset, UMAP on, UMAP warm-up at start).
Prints a markdown table for benchmarks/RESULTS.md. The workspace lives in benchmarks/_work/
(git-ignored) and is removed afterwards unless --keep.

Measured:
- server start: process start -> /_stcore/health ok, -> the Data page drawn in the browser, and the
  difference (the target: drawn within 3 s of the health check); ``--start-only`` stops here;
- training: click on Train -> "Training finished" in the page (ID then MOTOR), and each
  variant's own wall time from the job;
- Tokens page for the finished run: first visit (run loaded from disk, PCA map at once, UMAP in
  the background), time until the UMAP maps replace PCA, a second visit (warm), and a first
  visit after a server restart (maps read from the run folder's layouts.npz), reopened with the
  session's address (runs are private to the session that trained them);
- every other page of the finished run: click -> its heading, figures and tables drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path, env_extra: dict):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, MOTOR_LAB_HOME=str(home), **env_extra)
        self.log = open(home.parent / f"server-{self.port}.log", "w")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
                                      "--server.headless=true", "--server.address=127.0.0.1",
                                      f"--server.port={self.port}"], cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_health(self, timeout: float = 120) -> float:
        while time.perf_counter() - self.t0 < timeout:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read() == b"ok":
                    return time.perf_counter() - self.t0
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


def settle(page, timeout=600_000):
    """The app is not running a script (the attribute Streamlit sets on its root): a condition, not a sleep."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=timeout)


PAGES = {"How MOTOR works": 3, "Attention": 3, "Recommend": 0, "Compare": 5, "Runs": 0}  # page -> figures


def page_visit(page, name: str, figures: int) -> float:
    """Click a page -> its heading, ``figures`` plots and a table drawn, the script finished."""
    t = time.perf_counter()
    nav(page, name)
    page.get_by_role("heading", name=name, exact=True).first.wait_for(timeout=600_000)
    page.wait_for_function("n => document.querySelectorAll('.js-plotly-plot').length >= n", arg=figures,
                           timeout=600_000)
    settle(page)
    return time.perf_counter() - t


def nav(page, name):
    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=name, exact=True).click()


def tokens_visit(page) -> float:
    """Click Tokens -> both maps, the codebook chart and the tables are drawn."""
    t = time.perf_counter()
    nav(page, "Tokens")
    page.get_by_role("heading", name="Codebooks").wait_for(timeout=600_000)
    page.locator(".js-plotly-plot").nth(2).wait_for(timeout=600_000)
    settle(page)
    return time.perf_counter() - t


class StartOnly(Exception):
    """--start-only: the first page is measured; skip the rest."""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    ap.add_argument("--epochs", type=int, help="override the preset's epochs (default: the app's default settings)")
    ap.add_argument("--keep", action="store_true", help="keep benchmarks/_work afterwards")
    ap.add_argument("--start-only", action="store_true", help="measure the server start and first page only")
    a = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} not found; install it with apt-get install -y chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    shutil.rmtree(WORK, ignore_errors=True)
    home = WORK / "lab"
    home.mkdir(parents=True)
    env = {"MOTOR_LAB_TEST_SETTINGS": json.dumps({"train.epochs": a.epochs})} if a.epochs else {}
    rows: list[tuple[str, str, str]] = []
    load_before = os.getloadavg()
    srv = Server(home, env)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            health = srv.wait_health()
            page.goto(srv.url)
            page.get_by_text("Bundled demo").wait_for(timeout=120_000)
            page.get_by_test_id("stMetric").nth(5).wait_for(timeout=60_000)
            page.get_by_test_id("stDataFrame").nth(1).wait_for(timeout=60_000)  # the item preview: the page's end
            first = time.perf_counter() - srv.t0
            settle(page)
            done = time.perf_counter() - srv.t0
            rows += [("server start -> /_stcore/health", f"{health:.1f} s", ""),
                     ("server start -> Data page drawn (demo open)", f"{first:.1f} s", "browser included"),
                     ("health -> Data page drawn", f"{first - health:.1f} s", "target: within 3 s"),
                     ("server start -> first script run finished", f"{done:.1f} s",
                      "after the page: the layout worker (torch import, UMAP warm-up start)")]
            query = page.url.split("?", 1)[1] if "?" in page.url else ""  # the session token: same session later
            if a.start_only:
                browser.close()
                raise StartOnly

            nav(page, "Train")
            page.get_by_role("button", name="Train", exact=True).wait_for()
            settle(page)
            t = time.perf_counter()
            page.get_by_role("button", name="Train", exact=True).click()
            page.get_by_text("Training finished").wait_for(timeout=1_200_000)
            train_s = time.perf_counter() - t
            from app.workspace import Workspace

            rec = Workspace(home).runs()[0]
            per = {}
            for v in rec.variants:
                m = json.loads((rec.folder(v) / "metrics.json").read_text())
                per[v] = m
            note = ", ".join(f"{v.upper()} {m['total_seconds']:.1f} s ({m['epochs_run']} epochs, "
                             f"{m['seconds_per_epoch']:.2f} s/epoch, test R@20 {m['test']['recall@20']:.4f})"
                             for v, m in per.items())
            what = f"--epochs {a.epochs}" if a.epochs else "default settings"
            rows.append((f"demo training, {what} (ID then MOTOR), click -> finished", f"{train_s:.1f} s",
                         note))

            cold = tokens_visit(page)
            rows.append(("Tokens page, first visit after training (PCA map, UMAP queued)", f"{cold:.1f} s", ""))
            t = time.perf_counter()
            page.get_by_text("item vectors (UMAP)").first.wait_for(timeout=600_000)
            settle(page)
            rows.append(("... until the UMAP maps replace PCA (background)", f"{time.perf_counter() - t + cold:.1f} s",
                         "from the click; includes UMAP JIT if the warm-up had not finished"))
            nav(page, "Compare")
            page.get_by_role("heading", name="Downloads").wait_for(timeout=120_000)
            settle(page)
            warm = tokens_visit(page)
            rows.append(("Tokens page, second visit (warm)", f"{warm:.1f} s", ""))
            print(rows, flush=True)  # so far, in case a later step fails
            for name, figures in PAGES.items():
                rows.append((f"{name} page, first visit", f"{page_visit(page, name, figures):.1f} s", ""))
            browser.close()
    except StartOnly:
        pass
    finally:
        srv.stop()
    if a.start_only:
        return report(rows, load_before, a.keep)

    srv = Server(home, env)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            srv.wait_health()
            page.goto(f"{srv.url}/?{query}")  # a new port, the same session
            page.get_by_text("Bundled demo").wait_for(timeout=120_000)
            settle(page)
            t = tokens_visit(page)
            umap_shown = page.get_by_text("item vectors (UMAP)").count() > 0
            rows.append(("Tokens page after a server restart (cold process, maps from layouts.npz)", f"{t:.1f} s",
                         "UMAP map shown at once" if umap_shown else "PCA first"))
            browser.close()
    finally:
        srv.stop()
    return report(rows, load_before, a.keep)


def report(rows, load_before, keep: bool) -> int:
    load_after = os.getloadavg()

    print(f"### motor-lab app ({platform.node() or 'machine'}, {os.cpu_count()} CPUs, "
          f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after)\n")
    print("| step | time | notes |")
    print("|---|---|---|")
    for step, value, note in rows:
        print(f"| {step} | {value} | {note} |")
    if not keep:
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
