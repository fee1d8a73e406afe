"""Section 1: one large download, this service end to end against curl and md5sum."""

import collections
import hashlib
import json
import math
import os
import random
import resource
import subprocess
import time

from .client import ApiClient, apikey_header
from .common import (
    PYTHON,
    VAR,
    CpuMeter,
    GiB,
    MiB,
    RssSampler,
    drop_path,
    hwm_kib,
    log,
    median,
    reset_hwm,
    rss_kib,
    run,
    settle,
)
from .services import ADMIN

IN_PROGRESS = ("", "Queued", "Starting", "Downloading")
FILES = VAR / "files"
OUT = VAR / "out"

UPDATE_LOG_SQL = """
CREATE TABLE IF NOT EXISTS bench_row_updates (
    id bigserial PRIMARY KEY, row_id integer, at timestamptz DEFAULT clock_timestamp(),
    old_status text, new_status text, old_progress bigint, new_progress bigint);
CREATE OR REPLACE FUNCTION bench_log_update() RETURNS trigger AS $$
BEGIN
    INSERT INTO bench_row_updates (row_id, old_status, new_status, old_progress, new_progress)
    VALUES (NEW.id, OLD.status, NEW.status, OLD.progress, NEW.progress);
    RETURN NEW;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS bench_log_update ON filemonitor_filemonitor;
CREATE TRIGGER bench_log_update AFTER UPDATE ON filemonitor_filemonitor
    FOR EACH ROW EXECUTE FUNCTION bench_log_update();
"""


def install_update_log(pg):
    """Log every row UPDATE of the filemonitor table (exact counts and times, no stats lag)."""
    with pg.connect() as conn:
        conn.execute(UPDATE_LOG_SQL)


def remove_update_log(pg):
    with pg.connect() as conn:
        conn.execute("DROP TRIGGER IF EXISTS bench_log_update ON filemonitor_filemonitor")


def make_file(size, name=None):
    """(path, md5) of a ``size``-byte pseudo-random file in var/bench/files (kept between runs)."""
    FILES.mkdir(parents=True, exist_ok=True)
    path = FILES / (name or f"data-{size}.bin")
    sidecar = path.with_suffix(".md5")
    if path.exists() and path.stat().st_size == size and sidecar.exists():
        return path, sidecar.read_text().strip()
    block = os.urandom(64 * MiB)
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "wb") as out:
        for offset in range(0, size, MiB):
            index = offset // MiB
            start = (index * MiB) % len(block)
            piece = index.to_bytes(8, "big") + block[start + 8 : start + MiB]
            piece = piece[: size - offset]
            digest.update(piece)
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())  # no writeback of it later, in the middle of a timing
    sidecar.write_text(digest.hexdigest())
    return path, digest.hexdigest()


def warm(path):
    """Read ``path`` once so it sits in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(16 * MiB):
            pass


def row_updates(pg, pk):
    with pg.connect() as conn:
        return conn.execute(
            "SELECT extract(epoch FROM at), old_status, new_status FROM bench_row_updates "
            "WHERE row_id = %s ORDER BY id",
            [pk],
        ).fetchall()


def progress_stats(updates, interval):
    """(all UPDATEs, progress-only UPDATEs, seconds Downloading, within_limit) of one row."""
    began = next((at for at, _old, new in updates if new == "Downloading"), None)
    ended = updates[-1][0] if updates else None
    progress = sum(1 for _at, old, new in updates if old == new == "Downloading")
    seconds = float(ended - began) if began is not None else 0.0
    # The writer may write once per interval, plus the first write after on_start.
    within = progress <= math.floor(seconds / interval) + 1
    return len(updates), progress, seconds, within


PHASES = (
    ("api", "POST until the row is Queued (web request, INSERT)"),
    ("queue", "Queued until Starting (commit, Redis, worker picks the task)"),
    ("setup", "Starting until Downloading (folder, request, response headers)"),
    ("transfer", "Downloading until Complete (body, md5, fsync, rename)"),
    ("observe", "Complete until seen by the 20 ms poll"),
)


def phases(updates, posted_at, seen_at):
    """Seconds of each of PHASES for one download, from the row's UPDATE log."""
    first = {}
    for at, _old, new in updates:
        first.setdefault(new, float(at))
    marks = [posted_at, first.get("Queued"), first.get("Starting"), first.get("Downloading"),
             first.get("Complete"), seen_at]  # fmt: skip
    if None in marks:
        return None
    return {key: b - a for (key, _label), a, b in zip(PHASES, marks[:-1], marks[1:], strict=True)}


class E2E:
    """POST -> Complete through gunicorn and one worker; row polled in PostgreSQL every 20 ms."""

    def __init__(self, pg, web, worker, api_key, interval):
        self.pg, self.web, self.worker, self.interval = pg, web, worker, interval
        self.client = ApiClient(web.base, apikey_header(ADMIN, api_key))
        self.conn = pg.connect()

    def close(self):
        self.client.close()
        self.conn.close()

    def _status(self, pk):
        return self.conn.execute(
            "SELECT status, md5sum, local_dir FROM filemonitor_filemonitor WHERE id = %s", [pk]
        ).fetchone()

    def download(self, url, md5, timeout):
        pids = [self.worker.pid, *self.worker.pool_pids()]
        before = {pid: rss_kib(pid) for pid in pids}
        hwm_ok = all(reset_hwm(pid) for pid in pids)
        cpu = CpuMeter(self.worker.pid).start()
        with RssSampler(self.worker.pid, interval=0.05) as sampler:
            began, posted_at = time.perf_counter(), time.time()
            pk = self.client.post_download(url, md5)
            deadline = time.monotonic() + timeout
            while (row := self._status(pk))[0] in IN_PROGRESS:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"download {pk} not finished after {timeout}s: {row}")
                time.sleep(0.02)
            seconds = time.perf_counter() - began
            seen_at = time.time()
        cpu_seconds = cpu.stop()
        status, got_md5, local_dir = row
        if status != "Complete" or got_md5 != md5:
            raise RuntimeError(f"download {pk} ended {status!r} with md5 {got_md5}, not {md5}")
        growth = 0
        for pid in pids:
            if before.get(pid) is None:
                continue
            peak = max(sampler.peak_kib.get(pid, 0), (hwm_kib(pid) or 0) if hwm_ok else 0)
            growth = max(growth, peak - before[pid])
        log_rows = row_updates(self.pg, pk)
        updates = progress_stats(log_rows, self.interval)
        drop_path(local_dir)
        return {
            "seconds": seconds,
            "cpu": cpu_seconds,
            "rss_growth_kib": growth,
            "updates": updates,
            "phases": phases(log_rows, posted_at, seen_at),
        }


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command):
    """(wall seconds, CPU seconds) of one command, which must succeed; its stdout."""
    cpu, began = _children_cpu(), time.perf_counter()
    out = run(command, capture_output=True, text=True)
    return {"s": time.perf_counter() - began, "cpu": _children_cpu() - cpu}, out.stdout


def _step_curl(ctx, url, md5):
    """curl -o, then md5sum of the file, then sync of the file (three figures)."""
    out = OUT / "curl.bin"
    drop_path(out)
    settle()
    curl, _ = _timed(["curl", "-s", "-f", "-o", str(out), url])
    md5_after, printed = _timed(["md5sum", str(out)])
    if printed.split()[0] != md5:
        raise RuntimeError(f"curl download has md5 {printed.split()[0]}, not {md5}")
    sync, _ = _timed(["sync", str(out)])
    drop_path(out)
    return {"curl": curl, "md5_after_curl": md5_after, "sync": sync}


def _step_md5sum(ctx, path):
    """md5sum of the page-cached file alone, then two at once (what both cores give now)."""
    settle()
    one, _ = _timed(["md5sum", str(path)])
    cpu, began = _children_cpu(), time.perf_counter()
    pair = [subprocess.Popen(["md5sum", str(path)], stdout=subprocess.DEVNULL) for _ in range(2)]
    for proc in pair:
        proc.wait()
    two = {"s": time.perf_counter() - began, "cpu": _children_cpu() - cpu}
    return {"md5sum": one, "md5sum_x2": two}


def _step_engine(ctx, url, md5, variant=None):
    """The engine alone; ``variant``: None, "no_fsync" or "buffered" (diagnostic rows)."""
    dest = OUT / "engine"
    drop_path(dest)
    dest.mkdir(parents=True)
    settle()
    command = [PYTHON, "-m", "bench.fetch_once", url, str(dest), "--md5", md5]
    if variant:
        command.append("--" + variant.replace("_", "-"))
    result = json.loads(run(command, capture_output=True, text=True).stdout)
    drop_path(dest)
    figure = {"s": result["seconds"], "cpu": result["cpu"]}
    if variant:
        return {f"engine_{variant}": figure}
    return {"engine": figure, "engine_fsync": {"s": result["fsync"], "cpu": 0.0}}


def server_speed(url, size, runs=3):
    """Bytes/s the file server delivers: curl to /dev/null and a 4 MiB recv_into() reader.

    Each measurement fetches at least 1 GiB (the file again and again when it is smaller).
    """
    repeat = max(1, GiB // size)
    curl = []
    for _ in range(runs):
        command = ["curl", "-s", "-f", "-w", "%{size_download} %{time_total}\\n"]
        for _ in range(repeat):
            command += ["-o", "/dev/null", url]
        out = run(command, capture_output=True, text=True)
        pairs = [line.split() for line in out.stdout.splitlines() if line.strip()]
        curl.append(sum(float(b) for b, _t in pairs) / sum(float(t) for _b, t in pairs))
    raw = []
    for _ in range(runs):
        out = run([PYTHON, "-m", "bench.rawget", url, str(repeat)], capture_output=True, text=True)
        raw.append(float(out.stdout))
    return {"curl_Bps": median(curl), "raw_Bps": median(raw), "size": size * repeat}


class _Section:
    """The steps of section 1; each run does them all, starting at a different one."""

    def __init__(self, ctx, e2e, files):
        self.ctx, self.e2e = ctx, e2e
        (self.big, self.big_md5, self.big_url), (self.small_md5, self.small_url) = files
        self.runs = collections.defaultdict(list)
        self.rss, self.rss_small, self.updates, self.phases = [], [], [], []

    def steps(self, rep):
        cfg = self.ctx.cfg
        steps = [
            lambda: _step_curl(self.ctx, self.big_url, self.big_md5),
            lambda: _step_md5sum(self.ctx, self.big),
            lambda: _step_engine(self.ctx, self.big_url, self.big_md5),
            self.e2e_big,
        ]
        for variant in cfg.engine_variants:
            steps.append(lambda v=variant: _step_engine(self.ctx, self.big_url, self.big_md5, v))
        if rep < (cfg.small_runs or cfg.runs):
            steps.append(self.e2e_small)
        # A new order each run: no step always follows the same one (a step that frees
        # a gigabyte of page cache changes what the next one pays to allocate it).
        random.Random(rep).shuffle(steps)
        return steps

    def e2e_big(self):
        settle()
        result = self.e2e.download(self.big_url, self.big_md5, timeout=600)
        self.phases.append(result["phases"])
        self.rss.append(result["rss_growth_kib"])
        self.updates.append(result["updates"])
        return {"e2e": {"s": result["seconds"], "cpu": result["cpu"]}}

    def e2e_small(self):
        settle()
        result = self.e2e.download(self.small_url, self.small_md5, timeout=300)
        self.rss_small.append(result["rss_growth_kib"])
        self.updates.append(result["updates"])
        return {"e2e_small": {"s": result["seconds"], "cpu": result["cpu"]}}

    def run(self, rep):
        for step in self.steps(rep):
            for key, figure in step().items():
                self.runs[key].append(figure)
        last = {key: values[-1]["s"] for key, values in self.runs.items()}
        log("  " + "  ".join(f"{key} {seconds:.2f}s" for key, seconds in sorted(last.items())))


def _medians(runs):
    out = {}
    for key, values in runs.items():
        out[key] = median([v["s"] for v in values])
        out[key + "_cpu"] = median([v["cpu"] for v in values])
    chains = {"curl_md5": ("curl", "md5_after_curl"), "curl_md5_sync": ("curl", "md5_after_curl",
              "sync")}  # fmt: skip
    for name, keys in chains.items():
        per_run = list(zip(*(runs[k] for k in keys), strict=True))
        out[name] = median([sum(v["s"] for v in run) for run in per_run])
        out[name + "_cpu"] = median([sum(v["cpu"] for v in run) for run in per_run])
    return out


def run_section(ctx):
    """Every figure of section 1: the medians, and the raw runs."""
    cfg = ctx.cfg
    big, big_md5 = make_file(cfg.big_size)
    small, small_md5 = make_file(cfg.small_size)
    warm(big)
    warm(small)
    OUT.mkdir(parents=True, exist_ok=True)
    big_url, small_url = ctx.fast_url + big.name, ctx.fast_url + small.name
    log(f"section 1: file server speed ({cfg.big_size / GiB:.2f} GiB file)")
    speed = server_speed(big_url, cfg.big_size, runs=2 if cfg.mode == "quick" else 3)
    log(
        f"  curl > /dev/null {speed['curl_Bps'] / 1e9:.2f} GB/s, "
        f"raw reader {speed['raw_Bps'] / 1e9:.2f} GB/s"
    )
    e2e = E2E(ctx.pg, ctx.web, ctx.worker, ctx.api_key, ctx.progress_interval)
    section = _Section(ctx, e2e, ((big, big_md5, big_url), (small_md5, small_url)))
    try:
        e2e.download(small_url, small_md5, timeout=120)  # warm the worker and its connections
        for rep in range(cfg.runs):
            log(f"section 1: run {rep + 1}/{cfg.runs}")
            section.run(rep)
    finally:
        e2e.close()
    return {
        "size": cfg.big_size,
        "small_size": cfg.small_size,
        "server": speed,
        "runs": dict(section.runs),
        **_medians(section.runs),
        "rss_growth_kib": max(section.rss),
        "rss_growth_small_kib": max(section.rss_small),
        "updates": section.updates,
        "phases": {key: median([p[key] for p in section.phases if p]) for key, _label in PHASES},
    }
