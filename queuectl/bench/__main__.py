"""python -m queuectl.bench [--db URL | --all-backends] [--quick] [--only FIGURE] [--json]"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from queuectl.bench import (
    Figure,
    cli,
    due,
    others,
    projection,
    retention,
    running,
    scale,
    scale_limits,
    workflows,
)
from queuectl.bench.backends import (
    POSTGRES_DEFAULT,
    REDIS_DEFAULT,
    Server,
    postgres_answers,
    redis_answers,
    redis_store_exists,
)
from queuectl.bench.report import as_json, markdown

FIGURES = (
    "drain",
    "slots",
    "startup",
    "loop",
    "pickup",
    "due",
    "bulk",
    "scale",
    "scale-limits",
    "idle",
    "workflows",
    "retention",
    "projection",
    "others",
)


class Sizes:
    def __init__(self, quick: bool, prune: int | None = None) -> None:
        self.drain = 100 if quick else 5000
        self.slots = 48 if quick else 3000
        self.runs = 1 if quick else 3
        self.startup_runs = 2 if quick else 15
        self.loop = 3 if quick else 30
        self.pickup = 5 if quick else 200
        self.due = (3, 2) if quick else (40, 15)  # scheduled jobs, retries
        self.bulk = 500 if quick else 100_000
        self.scale = (200, 2000) if quick else (1000, 1_000_000)
        self.scale_runs = 3 if quick else 50
        self.idle = 0.5 if quick else 10.0
        self.workflow = 100 if quick else 10_000  # fan-out and fan-in, jobs
        self.chain = 50 if quick else 2000
        default_prune = 2000 if quick else 1_000_000
        self.retention = (default_prune if prune is None else prune, 100 if quick else 2000)


def run_backend(server: Server, sizes: Sizes, only: set[str]) -> list[Figure]:
    backend = server.backend
    out: list[Figure] = []

    def on_fresh(name: str, measure: Callable[[str], list[Figure]]) -> None:
        if name not in only:
            return
        print(f"  {backend}: {name} ...", file=sys.stderr, flush=True)
        with server.fresh(name) as url:
            out.extend(measure(url))

    on_fresh("drain", lambda url: running.drain(url, backend, sizes.drain, sizes.runs))
    on_fresh("slots", lambda url: [running.slots(url, backend, sizes.slots, 1)])
    on_fresh("startup", lambda url: cli.startup(url, backend, sizes.startup_runs))
    on_fresh("loop", lambda url: cli.enqueue_loop(url, backend, sizes.loop, sizes.runs))
    on_fresh("pickup", lambda url: running.pickup(url, backend, sizes.pickup))
    on_fresh("due", lambda url: due.due_pickup(url, backend, *sizes.due))
    on_fresh("bulk", lambda url: [cli.bulk_enqueue(url, backend, sizes.bulk, sizes.runs)])
    if "scale" in only and backend != "redis":
        small, large = sizes.scale
        print(f"  {backend}: scale ...", file=sys.stderr, flush=True)
        with server.fresh("scale_small") as small_url, server.fresh("scale_large") as large_url:
            scale.load(small_url, backend, small)
            scale.load(large_url, backend, large)
            at_small, at_large = scale.measure(small_url, large_url, sizes.scale_runs)
        out.extend(scale.figures(at_small, at_large, backend, f"{small:,} vs {large:,} jobs"))
    if "scale-limits" in only:
        print(f"  {backend}: scale-limits ...", file=sys.stderr, flush=True)
        out.append(scale_limits.run(server.fresh, backend, *sizes.scale, sizes.scale_runs))
    on_fresh("idle", lambda url: running.idle(url, backend, sizes.idle))
    if "workflows" in only:
        print(f"  {backend}: workflows ...", file=sys.stderr, flush=True)
        sized = (sizes.workflow, sizes.chain, sizes.bulk, sizes.runs)
        out.extend(workflows.measure(server.fresh, backend, *sized))
    on_fresh("retention", lambda url: retention.measure(url, backend, *sizes.retention))
    if "projection" in only:
        print(f"  {backend}: projection ...", file=sys.stderr, flush=True)
        out.extend(projection.measure(server.fresh, backend, sizes.drain))
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = set(args.only or FIGURES)
    sizes = Sizes(args.quick, args.prune)
    figures: list[Figure] = []
    for url in _backend_urls(args.all_backends, args.db):
        server = Server(url)
        try:
            figures.extend(run_backend(server, sizes, only))
        finally:
            server.close()
    if "others" in only:
        figures.extend(others.measure(sizes.drain, sizes.runs))

    context: dict[str, object] = {
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "python": sys.version.split()[0],
    }
    if args.json:
        print(as_json(figures, context))
    else:
        print(f"{context['cores']} cores, {context['date']}, Python {context['python']}\n")
        print(markdown(figures))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m queuectl.bench",
        description="Measure queuectl's speed figures beside same-run baselines.",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="backend to measure: a SQLite path (default: a temporary one) or a PostgreSQL "
        "URL of a database we may CREATE DATABASE from; every figure gets a fresh database",
    )
    parser.add_argument(
        "--all-backends", action="store_true", help="SQLite, PostgreSQL and Redis side by side"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument(
        "--only",
        action="append",
        choices=FIGURES,
        metavar="FIGURE",
        help=f"only this figure (repeatable): {', '.join(FIGURES)}",
    )
    parser.add_argument(
        "--prune",
        type=int,
        metavar="N",
        help="completed jobs the retention figure prunes (default 1,000,000; --quick 2,000)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    return parser


def _backend_urls(all_backends: bool, db: str | None) -> list[str | None]:
    """The databases to measure: `db` (None: a temporary SQLite file), or with
    `all_backends` SQLite and every server that answers."""
    if not all_backends:
        return [db]
    urls: list[str | None] = [None]
    pg = os.environ.get("QUEUECTL_BENCH_POSTGRES") or POSTGRES_DEFAULT
    if postgres_answers(pg):
        urls.append(pg)
    else:
        print(f"skipping PostgreSQL: {pg} does not answer", file=sys.stderr)
    redis = os.environ.get("QUEUECTL_BENCH_REDIS") or REDIS_DEFAULT
    if redis_store_exists() and redis_answers(redis):
        urls.append(redis)
    return urls


if __name__ == "__main__":
    sys.exit(main())
