"""Run every benchmark section in one go and write docs/benchmarks.md and docs/benchmarks.png.

``python -m bench`` is the full run (``make bench``), ``python -m bench --quick`` the
reduced one (``make bench-quick``; its documents go to var/bench/quick/, never over
the full run's). ``--report-only`` re-renders the documents from the last run's
var/bench/results.json.
"""

import argparse
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import api, downloads, many, profiling, report
from .common import (
    ROOT,
    VAR,
    GiB,
    MiB,
    drop_path,
    loadavg,
    log,
    machine_summary,
    snapshot_tree,
    tree_state,
)
from .services import Gunicorn, Postgres, Worker, django_env, flush_redis, prepare_database

RESULTS = VAR / "results.json"


@dataclass
class Config:
    mode: str
    runs: int
    big_size: int
    small_size: int
    many_count: int
    many_size: int
    many_rate: int
    many_runs: int
    many_prefork_runs: int
    api_rows: int
    api_big_rows: int | None
    api_seconds: float
    api_basic_seconds: float
    api_runs: int
    api_clients: int = 8
    api_basic_clients: int = 2
    # A Basic request is one PBKDF2 (~0.2 s): longer slices hold enough of them.
    api_basic_slice: float = 1.0
    api_slice: float = 0.5  # ours and stock alternate in slices of this many seconds
    # Diagnostic rows of the engine alone: without its final fsync, and with O_DIRECT off.
    engine_variants: tuple = ("no_fsync", "buffered")
    small_runs: int = 0  # end-to-end runs of the small file (0: as many as runs)
    many_timeout: float = 400.0
    many_pools: list = field(
        default_factory=lambda: [("prefork", 2), ("prefork", 4), ("threads", 100)]
    )

    def many_runs_for(self, pool):
        return self.many_prefork_runs if pool == "prefork" else self.many_runs


FULL = Config(
    mode="full", runs=5, big_size=GiB, small_size=100 * MiB,
    many_count=100, many_size=4 * MiB, many_rate=2 * MiB, many_runs=3, many_prefork_runs=1,
    api_rows=100_000, api_big_rows=1_000_000, api_seconds=2.5, api_basic_seconds=4.0, api_runs=5,
)  # fmt: skip
QUICK = Config(
    mode="quick", runs=3, big_size=256 * MiB, small_size=100 * MiB,
    many_count=20, many_size=1 * MiB, many_rate=2 * MiB, many_runs=1, many_prefork_runs=1,
    api_rows=100_000, api_big_rows=None, api_seconds=0.5, api_basic_seconds=1.0, api_runs=3,
    engine_variants=(), small_runs=1,
)  # fmt: skip


class Context:
    """What the sections share: config, services, URLs."""

    progress_interval = 1.0  # FILEMONITOR_PROGRESS_INTERVAL's default, which the run keeps


def _run_sections(ctx, results):
    cfg = ctx.cfg
    log(f"section 1: one {cfg.big_size / GiB:.2f} GiB download (and {cfg.small_size // MiB} MiB)")
    ctx.worker = Worker("e2e", ctx.env, "prefork", 1)
    try:
        results["download"] = downloads.run_section(ctx)
    finally:
        ctx.worker.stop()
    log("section 2: profile of the engine's download loop (py-spy)")
    big, big_md5 = downloads.make_file(cfg.big_size)
    results["profile"] = profiling.profile_fetch(ctx.fast_url + big.name, big_md5, cfg.big_size)
    results["perf"] = profiling.perf_fetch(ctx.fast_url + big.name, big_md5, cfg.big_size)
    log(f"section 3: {cfg.many_count} downloads at {cfg.many_rate // MiB} MiB/s each")
    ctx.many_file, ctx.many_md5 = downloads.make_file(cfg.many_size)
    results["many"] = many.run_section(ctx)
    log("section 4: API under load, ours vs stock tastypie")
    downloads.remove_update_log(ctx.pg)
    results["api"] = api.run_section(ctx)


def preflight():
    """Stop early, and say why, when a tool or service the run needs is missing."""
    missing = [tool for tool in ("curl", "md5sum", "sync") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"bench: {', '.join(missing)} not found (apt-get install curl coreutils)")
    try:
        flush_redis()
    except Exception as exc:  # redis-py raises its own ConnectionError
        raise SystemExit(f"bench: Redis on 127.0.0.1:6379 is not reachable ({exc})") from exc


def measure(cfg):
    from .common import Service, start_fileserver

    preflight()
    results = {"config": asdict(cfg), "machine": machine_summary(), "load_start": loadavg()}
    results["started"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    began = time.monotonic()
    results["tree"] = tree_state()
    snapshot_tree()
    downloads_dir = VAR / "downloads"
    drop_path(downloads_dir)
    downloads_dir.mkdir(parents=True)
    (VAR / "var" / "static").mkdir(parents=True, exist_ok=True)
    ctx = Context()
    ctx.cfg = cfg
    pg = Postgres()
    services = []
    try:
        pg.start()
        ctx.pg = pg
        results["database"] = "private cluster" if pg.private else "BENCH_DATABASE_URL"
        flush_redis()
        ctx.env = django_env(pg, downloads_dir)
        ctx.api_key = prepare_database(ctx.env)
        downloads.install_update_log(pg)
        fast, ctx.fast_url = start_fileserver(downloads.FILES, "fileserver-fast")
        services.append(fast)
        slow, ctx.slow_url = start_fileserver(downloads.FILES, "fileserver-slow", cfg.many_rate)
        services.append(slow)
        ctx.web = Gunicorn("web-ours", ctx.env)
        services.append(ctx.web)
        _run_sections(ctx, results)
    finally:
        for service in reversed(services):
            if isinstance(service, Service):
                service.stop()
        pg.stop()
        flush_redis()
        drop_path(downloads_dir)
        drop_path(VAR / "out")
    results["load_end"] = loadavg()
    results["seconds"] = time.monotonic() - began
    RESULTS.write_text(json.dumps(results, indent=1, default=str))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced run (< 2 minutes)")
    parser.add_argument("--report-only", action="store_true", help="re-render the last results")
    parser.add_argument(
        "--docs", help="where the documents go (default: docs/ for a full run, var/bench/quick/)"
    )
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    VAR.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        results = json.loads(RESULTS.read_text())
    else:
        cfg = QUICK if args.quick else FULL
        log(f"{cfg.mode} run; load average {loadavg()}")
        results = measure(cfg)
    # A quick run never replaces the full run's committed documents.
    full = results["config"]["mode"] == "full"
    docs = Path(args.docs) if args.docs else ROOT / "docs" if full else VAR / "quick"
    docs.mkdir(parents=True, exist_ok=True)
    text = report.write(results, str(docs))
    print(text, flush=True)
    log(f"wrote benchmarks.md and benchmarks.png in {docs} ({results['seconds']:.0f} s)")
    return 0
