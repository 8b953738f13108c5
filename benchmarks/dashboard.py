"""Dashboard speed against its targets (listed below); prints one line per measurement.

    python benchmarks/dashboard.py [--jobs 1000000] [--db PATH] [--idle 60]

- first paint (first-contentful-paint) and "data on screen" (the script's first load done)
  of the overview and the jobs page, in a fresh browser context each time (no cache), with
  `--jobs` jobs in the table: target first paint < 1 s;
- CPU of the `queuectl serve` process while 20 dashboards (each its own browser context,
  so each holds its own /api/events stream) sit open on an idle queue: target < 2% of one
  core.

Needs Playwright (Python) and Debian's /usr/bin/chromium. The database is filled through
the store (enqueue in batches), then 90% of the jobs are marked completed and 2% dead with
one SQL UPDATE, which is what a long-lived queue looks like. `--db` keeps it for reruns.
Exit code 0 when every target was met.
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from queuectl.models import NewJob
from queuectl.store import open_store

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAINT_TARGET_MS = 1000.0
CPU_TARGET_PERCENT = 2.0


def fill(path: Path, count: int) -> None:
    """Bring the database to `count` jobs (reusing what an earlier run left)."""
    store = open_store(str(path))
    try:
        have = store_count(path)
        batch = 20_000
        for start in range(have, count, batch):
            jobs = [
                NewJob(id=f"bench-{i:07d}", command=f"echo job {i} && sleep 0", queue=f"q{i % 4}")
                for i in range(start, min(count, start + batch))
            ]
            store.enqueue_jobs(jobs, 3)
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE jobs SET state = CASE WHEN seq % 50 = 0 THEN 'dead' ELSE 'completed' END,"
            " attempts = 1, exit_code = CASE WHEN seq % 50 = 0 THEN 3 ELSE 0 END,"
            " last_error = CASE WHEN seq % 50 = 0 THEN 'exit code 3' END"
            " WHERE state = 'pending' AND seq % 10 != 0"
        )


def store_count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        try:
            return int(db.execute("SELECT count(*) FROM jobs").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "queuectl", "--db", str(path), "serve", "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                return proc, base
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("error: queuectl serve did not start")


def paint(browser: Any, url: str) -> tuple[float, float]:
    """(first-contentful-paint, data on screen) in ms from navigation start."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
    fcp = page.evaluate("() => performance.getEntriesByName('first-contentful-paint')[0].startTime")
    ready = page.evaluate("() => performance.getEntriesByName('queuectl-ready')[0].startTime")
    context.close()
    return float(fcp), float(ready)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(browser: Any, base: str, pid: int, dashboards: int, seconds: float) -> float:
    contexts = [browser.new_context() for _ in range(dashboards)]
    pages = [context.new_page() for context in contexts]
    for page in pages:
        page.goto(base + "/")
        page.wait_for_selector("#live.on", timeout=60_000)  # its event stream is open
    time.sleep(5)  # let the start-up settle
    before, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used = cpu_seconds(pid) - before
    elapsed = time.monotonic() - start
    live = sum(page.locator("#live.on").count() for page in pages)
    for context in contexts:
        context.close()
    if live != dashboards:
        raise SystemExit(f"error: only {live} of {dashboards} dashboards stayed connected")
    return 100 * used / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="SQLite file to fill or reuse")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dashboards", type=int, default=20)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle measurement")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "dashboard-bench.db"
        start = time.perf_counter()
        fill(path, args.jobs)
        print(f"database: {store_count(path):,} jobs ready in {time.perf_counter() - start:.0f} s")
        proc, base = serve(path)
        ok = True
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for name, url in (("overview", base + "/"), ("jobs page", base + "/jobs")):
                    paint(browser, url)  # warm the server's and the OS's caches once
                    results = [paint(browser, url) for _ in range(args.runs)]
                    fcp = statistics.median(r[0] for r in results)
                    ready = statistics.median(r[1] for r in results)
                    met = fcp < PAINT_TARGET_MS
                    ok &= met
                    print(
                        f"{name}: first paint {fcp:.0f} ms, data on screen {ready:.0f} ms "
                        f"(median of {args.runs}; target paint < {PAINT_TARGET_MS:.0f} ms: "
                        f"{'met' if met else 'MISSED'})"
                    )
                cpu = idle_cpu(browser, base, proc.pid, args.dashboards, args.idle)
                met = cpu < CPU_TARGET_PERCENT
                ok &= met
                print(
                    f"serve CPU with {args.dashboards} open dashboards, idle queue: {cpu:.2f}% "
                    f"of one core over {args.idle:.0f} s (target < {CPU_TARGET_PERCENT}%: "
                    f"{'met' if met else 'MISSED'})"
                )
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
