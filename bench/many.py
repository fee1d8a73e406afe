"""Section 3: many simultaneous downloads from a throttled server through one worker node."""

import concurrent.futures
import resource
import subprocess
import threading
import time

from .client import ApiClient, apikey_header
from .common import (
    VAR,
    CpuMeter,
    MiB,
    RssSampler,
    clean_env,
    drop_path,
    log,
    median,
    settle,
)
from .downloads import IN_PROGRESS, progress_stats, row_updates
from .services import ADMIN, DB_NAME, Worker

POSTERS = 8  # client threads that POST the downloads


def _curl_baseline(url, count, md5):
    """``count`` curl -o + md5sum pipelines at once: (seconds, CPU seconds)."""
    out = VAR / "out" / "many-curl"
    drop_path(out)
    out.mkdir(parents=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    script = 'curl -s -f -o "$1" "$2" && md5sum "$1"'
    env = clean_env()
    procs = [
        subprocess.Popen(
            ["sh", "-c", script, "sh", str(out / f"{i}.bin"), f"{url}?n={i}"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for i in range(count)
    ]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    bad = [o for o in outputs if not o.startswith(md5)]
    drop_path(out)
    if bad:
        raise RuntimeError(f"{len(bad)} curl downloads failed or had a wrong md5")
    return seconds, cpu


class _ConnectionSampler:
    """The most connections to the bench database seen, sampled every 0.2 s."""

    def __init__(self, pg):
        self.pg, self.peak = pg, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with self.pg.connect(admin=True) as conn:
            while not self._stop.is_set():
                count = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [DB_NAME]
                ).fetchone()[0]
                self.peak = max(self.peak, count)
                self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


def _post_all(client_factory, url, count, md5):
    def post(i):
        client = client_factory()
        try:
            return client.post_download(f"{url}?n={i}", md5)
        finally:
            client.close()

    with concurrent.futures.ThreadPoolExecutor(POSTERS) as pool:
        return list(pool.map(post, range(count)))


def _run_pool(ctx, pool, concurrency, url, count, size, md5):
    pg = ctx.pg
    worker = Worker(f"many-{pool}-{concurrency}", ctx.env, pool, concurrency)
    try:
        settle()
        cpu = CpuMeter(worker.pid).start()
        with (
            RssSampler(worker.pid, interval=0.05) as sampler,
            _ConnectionSampler(pg) as connections,
            pg.connect() as conn,
        ):
            began = time.perf_counter()
            ids = _post_all(
                lambda: ApiClient(ctx.web.base, apikey_header(ADMIN, ctx.api_key)), url, count, md5
            )
            posted = time.perf_counter() - began
            deadline = time.monotonic() + ctx.cfg.many_timeout
            while True:
                pending = conn.execute(
                    "SELECT count(*) FROM filemonitor_filemonitor "
                    "WHERE id = ANY(%s) AND status = ANY(%s)",
                    [ids, list(IN_PROGRESS)],
                ).fetchone()[0]
                if not pending:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{pool}/{concurrency}: {pending} downloads still running")
                time.sleep(0.1)
            seconds = time.perf_counter() - began
        cpu_seconds = cpu.stop()
        with pg.connect() as conn:
            rows = conn.execute(
                "SELECT id, status, md5sum, local_dir FROM filemonitor_filemonitor "
                "WHERE id = ANY(%s)",
                [ids],
            ).fetchall()
        good = sum(1 for _id, status, got, _dir in rows if status == "Complete" and got == md5)
        stats = [progress_stats(row_updates(pg, pk), ctx.progress_interval) for pk in ids]
        for _id, _status, _md5, local_dir in rows:
            drop_path(local_dir)
    finally:
        worker.stop()
    return {
        "pool": pool,
        "concurrency": concurrency,
        "seconds": seconds,
        "post_seconds": posted,
        "complete": good,
        "count": count,
        "throughput": count * size / seconds,
        "cpu_per_download": cpu_seconds / count,
        "peak_rss_kib": sampler.peak_sum_kib,
        "peak_db_connections": connections.peak,
        "updates": stats,
    }


def run_section(ctx):
    cfg = ctx.cfg
    url = ctx.slow_url + ctx.many_file.name
    count, size, md5 = cfg.many_count, cfg.many_size, ctx.many_md5
    results = {"count": count, "size": size, "rate": cfg.many_rate, "pools": [], "curl": []}
    configs = list(cfg.many_pools)
    # Threads hold one database connection each while they download.
    free = ctx.pg.free_connections() - 20
    for index, (pool, concurrency) in enumerate(configs):
        if pool == "threads" and concurrency > free:
            log(f"section 3: only {free} free database connections; threads capped to {free}")
            configs[index] = (pool, max(1, free))
    for rep in range(cfg.many_runs):
        log(f"section 3: run {rep + 1}/{cfg.many_runs}: {count} curl -o + md5sum at once")
        seconds, cpu = _curl_baseline(url, count, md5)
        results["curl"].append({"seconds": seconds, "cpu_per_download": cpu / count,
                                "throughput": count * size / seconds})  # fmt: skip
        log(f"  {seconds:.1f}s, {count * size / seconds / MiB:.0f} MiB/s")
        for pool, concurrency in configs:
            if rep >= cfg.many_runs_for(pool):
                continue
            log(f"section 3: run {rep + 1}: {count} downloads, {pool} pool x{concurrency}")
            result = _run_pool(ctx, pool, concurrency, url, count, size, md5)
            results["pools"].append(result)
            log(
                f"  {result['seconds']:.1f}s, {result['complete']}/{count} Complete, "
                f"{result['throughput'] / MiB:.0f} MiB/s, "
                f"{result['cpu_per_download'] * 1000:.0f} ms CPU/download, "
                f"peak RSS {result['peak_rss_kib'] / 1024:.0f} MiB"
            )
    return results


def summarize(results):
    """Medians per pool configuration, and of the curl baseline."""
    curl = {
        "seconds": median([r["seconds"] for r in results["curl"]]),
        "throughput": median([r["throughput"] for r in results["curl"]]),
        "cpu_per_download": median([r["cpu_per_download"] for r in results["curl"]]),
        "runs": len(results["curl"]),
    }
    pools = {}
    for r in results["pools"]:
        pools.setdefault((r["pool"], r["concurrency"]), []).append(r)
    rows = []
    for (pool, concurrency), runs in pools.items():
        rows.append({
            "pool": pool,
            "concurrency": concurrency,
            "runs": len(runs),
            "seconds": median([r["seconds"] for r in runs]),
            "post_seconds": median([r["post_seconds"] for r in runs]),
            "throughput": median([r["throughput"] for r in runs]),
            "cpu_per_download": median([r["cpu_per_download"] for r in runs]),
            "peak_rss_kib": median([r["peak_rss_kib"] for r in runs]),
            "peak_db_connections": max(r.get("peak_db_connections", 0) for r in runs),
            "complete": min(r["complete"] for r in runs),
            "count": runs[0]["count"],
            "max_progress_rate": max(
                (p / s for r in runs for _n, p, s, _ok in r["updates"] if s > 0), default=0.0
            ),
            "progress_within_limit": all(ok for r in runs for *_rest, ok in r["updates"]),
        })  # fmt: skip
    return curl, rows
