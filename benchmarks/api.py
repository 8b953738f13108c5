"""HTTP API benchmark: `queuectl serve` against 127.0.0.1 only, bounded in time.

- GET /api/status and GET /api/jobs?limit=50 with --rows jobs in the table (default a
  million): the most requests/s a few keep-alive connections get (closed loop), and the
  latency (p50/p99) of a paced 200 requests/s.
- Enqueue over HTTP: one job per request, and bulk (arrays of 1000), in jobs/s, next to
  `queuectl enqueue --file` on the same database.

The load generator is Python (http.client, one thread per connection) on the same 2-core
machine as the server, so it takes CPU from the server: the figures are a floor.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from queuectl.models import NewJob
from queuectl.store import open_store

TARGET_RPS = 200
TARGET_P99_MS = 50.0


def fill(url: str, rows: int) -> float:
    """Insert `rows` completed-looking jobs directly through the store (fast path)."""
    store = open_store(url)
    started = time.perf_counter()
    batch = 20_000
    have = store.count_jobs().by_state
    existing = sum(have.values())
    for start in range(existing, rows, batch):
        jobs = [
            NewJob(id=f"bench-{i}", command="true") for i in range(start, min(rows, start + batch))
        ]
        store.enqueue_jobs(jobs, 3)
    store.close()
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "queuectl", "--db", url, "serve", "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start; see {log}")


def _worker(port: int, path: str, until: float, interval: float | None, out: list[float]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    next_at = time.perf_counter()
    while True:
        if interval is not None:
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
        start = time.perf_counter()
        if start >= until:
            break
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status}")
        out.append(time.perf_counter() - start)
    conn.close()


def load(
    port: int, path: str, seconds: float, connections: int, rps: float | None
) -> dict[str, float]:
    until = time.perf_counter() + seconds
    interval = None if rps is None else connections / rps
    results: list[list[float]] = [[] for _ in range(connections)]
    threads = [
        threading.Thread(target=_worker, args=(port, path, until, interval, results[i]))
        for i in range(connections)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for r in results for x in r)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "requests": len(latencies),
    }


def enqueue_one_per_request(port: int, count: int, connections: int = 4) -> float:
    per = count // connections

    def post(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(per):
            body = json.dumps({"id": f"one-{offset}-{i}", "command": "true"})
            conn.request("POST", "/api/jobs", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.status == 201, response.status
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=post, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per * connections / (time.perf_counter() - started)


def enqueue_bulk(port: int, batches: int, size: int = 1000) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    for b in range(batches):
        body = "\n".join(
            json.dumps({"id": f"bulk-{b}-{i}", "command": "true"}) for i in range(size)
        )
        conn.request("POST", "/api/jobs", body, {"Content-Type": "application/x-ndjson"})
        response = conn.getresponse()
        response.read()
        assert response.status == 201, response.status
    return batches * size / (time.perf_counter() - started)


def enqueue_file_rate(url: str, count: int, tmp: Path) -> float:
    spec = tmp / "jobs.jsonl"
    spec.write_text(
        "".join(json.dumps({"id": f"file-{i}", "command": "true"}) + "\n" for i in range(count))
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "queuectl", "--db", url, "enqueue", "--file", str(spec)],
        check=True,
        capture_output=True,
    )
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=8.0, help="per read measurement")
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = args.db or str(tmp / "bench.db")
        took = fill(url, args.rows)
        print(f"table: {args.rows} jobs (filled in {took:.1f} s)")
        port = free_port()
        server = start_server(url, port, tmp / "serve.log")
        try:
            failed = False
            for path in ("/api/status", "/api/jobs?limit=50"):
                load(port, path, 1.0, 1, None)  # warm up
                most = load(port, path, args.seconds, args.connections, None)
                paced = load(port, path, args.seconds, args.connections, TARGET_RPS)
                ok = paced["p99_ms"] < TARGET_P99_MS and paced["rps"] >= TARGET_RPS * 0.95
                failed |= not ok
                print(
                    f"GET {path}: max {most['rps']:.0f} req/s (p50 {most['p50_ms']:.1f} ms, "
                    f"p99 {most['p99_ms']:.1f} ms); at {TARGET_RPS} req/s: "
                    f"{paced['rps']:.0f} req/s, p50 {paced['p50_ms']:.1f} ms, "
                    f"p99 {paced['p99_ms']:.1f} ms [{'ok' if ok else 'MISSED'}: "
                    f"p99 < {TARGET_P99_MS:.0f} ms]"
                )
            one = enqueue_one_per_request(port, 2000)
            bulk = enqueue_bulk(port, 20)
        finally:
            server.terminate()
            server.wait(30)
        by_file = enqueue_file_rate(url, 20_000, tmp)
        ratio = bulk / by_file
        failed |= ratio < 0.5
        print(f"API enqueue, one per request: {one:.0f} jobs/s")
        print(
            f"API enqueue, bulk (1000 per request): {bulk:.0f} jobs/s; enqueue --file: "
            f"{by_file:.0f} jobs/s; ratio {ratio:.2f} "
            f"[{'ok' if ratio >= 0.5 else 'MISSED'}: >= 0.5]"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
