"""Section 4: the REST API under concurrent clients, ours against a stock tastypie resource."""

import json
import random
import threading
import time

from .client import API_PATH, ApiClient, apikey_header, basic_header
from .common import CpuMeter, log, median, percentile
from .services import ADMIN, ADMIN_PASSWORD, Gunicorn

INSERT_SQL = """
INSERT INTO filemonitor_filemonitor
    (url, local_dir, name, size, progress, status, celery_task_id, md5sum, tags, created, updated)
SELECT 'http://data.example.org/runs/R' || g || '/reads-' || g || '.bam',
       %(root)s || '/' || g || '-x', 'reads-' || g || '.bam',
       1048576 + g, 1048576 + g,
       CASE WHEN g %% 50 = 0 THEN 'Downloading' WHEN g %% 50 = 1 THEN 'Queued'
            WHEN g %% 10 = 2 THEN 'HTTP Error: Not Found' ELSE 'Complete' END,
       md5(g::text)::uuid::text, md5(g::text),
       CASE WHEN g %% 10 = 0 THEN 'reference' WHEN g %% 10 = 1 THEN 'bedfile,reference'
            ELSE 'sample' END,
       timestamptz '2024-01-01' + g * interval '1 second',
       timestamptz '2024-01-01' + g * interval '1 second'
FROM generate_series(%(first)s::integer, %(last)s::integer) AS g
"""


def _get(path, expect=200):
    return lambda rng: ("GET", path, None, expect)


def _detail(rows):
    return lambda rng: ("GET", f"{API_PATH}{rng.randint(1, rows)}/", None, 200)


def _patch(rows):
    def make(rng):
        body = {"tags": f"patched-{rng.randint(1, 1000)}"}
        return ("PATCH", f"{API_PATH}{rng.randint(1, rows)}/", body, 202)

    return make


def rows_for(rows):
    """(key, label, request maker, auth kind) of every load row at ``rows`` table rows."""
    return [
        ("list", "list, default page", _get(API_PATH), "key"),
        ("tags", "filter tags__contains=bedfile",
         _get(f"{API_PATH}?tags__contains=bedfile"), "key"),
        ("status", "filter status__in=Downloading,Queued",
         _get(f"{API_PATH}?status__in=Downloading,Queued"), "key"),
        ("order", "order_by=-created", _get(f"{API_PATH}?order_by=-created"), "key"),
        ("detail", "detail GET", _detail(rows), "key"),
        ("patch", "PATCH tags", _patch(rows), "key"),
    ]  # fmt: skip


def load(base, header, make, seconds, clients, seed=0, max_requests=200_000):
    """``clients`` threads send requests for ``seconds``: req/s, p50/p99 latency, errors."""
    latencies, errors, lock = [], [0], threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds
    ends = []

    def client_loop(index):
        rng = random.Random(seed * 1000 + index)
        client = ApiClient(base, header)
        mine, bad, sent = [], 0, 0
        try:
            while time.perf_counter() < deadline and sent < max_requests:
                method, path, body, expect = make(rng)
                began = time.perf_counter()
                try:
                    status, _headers, _payload = client.request(method, path, body)
                except OSError:
                    status = None
                mine.append(time.perf_counter() - began)
                sent += 1
                bad += status != expect
        finally:
            client.close()
            with lock:
                latencies.extend(mine)
                errors[0] += bad
                ends.append(time.perf_counter())

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(ends) - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "elapsed": elapsed,
        "latencies": latencies,
    }


def fill(pg, first, last, root):
    """Rows ``first``..``last`` (ids too), spread over tags, statuses and days, like a site's."""
    with pg.connect() as conn:
        conn.execute(INSERT_SQL, {"first": first, "last": last, "root": str(root)})
        conn.execute("VACUUM ANALYZE filemonitor_filemonitor")


def sql_timings(pg, runs=5):
    """Median ms of the list page's two queries, and of our counter's read (rowcount.py)."""
    queries = {
        "count": "SELECT count(*) FROM filemonitor_filemonitor",
        "page": "SELECT * FROM filemonitor_filemonitor ORDER BY id DESC LIMIT 20",
        "counter": "SELECT total FROM filemonitor_rowcount "
        "WHERE \"table\" = 'filemonitor_filemonitor'",
    }
    result = {}
    with pg.connect() as conn:
        for key, sql in queries.items():
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                conn.execute(sql).fetchall()
                times.append((time.perf_counter() - began) * 1000)
            result[key] = median(times)
    return result


def _check_same_answers(ours, stock, api_key):
    """Both servers see the same table (same total_count for each list row)."""
    header = apikey_header(ADMIN, api_key)
    for path in (API_PATH, f"{API_PATH}?tags__contains=bedfile",
                 f"{API_PATH}?status__in=Downloading,Queued"):  # fmt: skip
        counts = []
        for server in (ours, stock):
            client = ApiClient(server.base, header)
            status, _h, payload = client.request("GET", path)
            client.close()
            if status != 200:
                raise RuntimeError(f"{server.name} answered {status} to {path}: {payload[:200]!r}")
            counts.append(json.loads(payload)["meta"]["total_count"])
        if counts[0] != counts[1]:
            raise RuntimeError(f"{path}: total_count {counts[0]} (ours) != {counts[1]} (stock)")


def _measure_rows(servers, rows, cfg, api_key, results, server_pids, suffix=""):
    headers = {
        "key": apikey_header(ADMIN, api_key),
        "basic": basic_header(ADMIN, ADMIN_PASSWORD),
    }
    for _key, _label, make, auth in rows:  # warm both servers' workers and caches
        if auth == "basic":
            continue
        for server in servers:
            load(server.base, headers[auth], make, 0.3, cfg.api_clients, seed=99)
    for rep in range(cfg.api_runs):
        for key, label, make, auth in rows:
            seconds = cfg.api_basic_seconds if auth == "basic" else cfg.api_seconds
            # One PBKDF2 per Basic request: a few clients already keep both cores busy.
            clients = cfg.api_basic_clients if auth == "basic" else cfg.api_clients
            slice_seconds = cfg.api_basic_slice if auth == "basic" else cfg.api_slice
            slices = max(1, round(seconds / slice_seconds))
            totals = {server.name: _Totals() for server in servers}
            # Ours and stock take turns in short slices: both meet the same machine.
            for index in range(slices):
                order = servers if (rep + index) % 2 == 0 else servers[::-1]
                for server in order:
                    meters = [CpuMeter(pid).start() for pid in (server.pid, server_pids.get("db"))
                              if pid]  # fmt: skip
                    figures = load(server.base, headers[auth], make, seconds / slices, clients,
                                   rep * 100 + index)  # fmt: skip
                    totals[server.name].add(figures, [meter.stop() for meter in meters])
            entry = results.setdefault(key + suffix, {"label": label, "ours": [], "stock": []})
            for server in servers:
                entry[server.name.split("-")[1]].append(totals[server.name].figures())
        log(f"section 4: run {rep + 1}/{cfg.api_runs} done{suffix}")


class _Totals:
    """One server's figures over the slices of one measurement."""

    def __init__(self):
        self.latencies, self.errors, self.elapsed, self.cpu = [], 0, 0.0, None

    def add(self, figures, cpu):
        self.latencies += figures["latencies"]
        self.errors += figures["errors"]
        self.elapsed += figures["elapsed"]
        self.cpu = cpu if self.cpu is None else [a + b for a, b in zip(self.cpu, cpu, strict=True)]

    def figures(self):
        self.latencies.sort()
        count = len(self.latencies)
        return {
            "requests": count,
            "errors": self.errors,
            "rps": count / self.elapsed,
            "p50": percentile(self.latencies, 0.50),
            "p99": percentile(self.latencies, 0.99),
            "web_cpu_ms": self.cpu[0] * 1000 / max(count, 1),
            "db_cpu_ms": self.cpu[1] * 1000 / max(count, 1) if len(self.cpu) > 1 else None,
        }


def run_section(ctx):
    cfg, pg = ctx.cfg, ctx.pg
    with pg.connect() as conn:
        conn.execute("TRUNCATE filemonitor_filemonitor RESTART IDENTITY")
    log(f"section 4: inserting {cfg.api_rows} rows")
    fill(pg, 1, cfg.api_rows, ctx.env["FILEMONITOR_ROOT"])
    stock = Gunicorn("web-stock", ctx.env, settings_module="bench.stock_settings")
    ours = ctx.web
    results = {}
    sql = {}
    try:
        _check_same_answers(ours, stock, ctx.api_key)
        sql[cfg.api_rows] = sql_timings(pg)
        rows = rows_for(cfg.api_rows)
        rows.append(("basic", "detail GET, HTTP Basic auth", _detail(cfg.api_rows), "basic"))
        server_pids = {"db": pg.server_pid()}
        _measure_rows([ours, stock], rows, cfg, ctx.api_key, results, server_pids)
        if cfg.api_big_rows:
            log(f"section 4: growing the table to {cfg.api_big_rows} rows")
            fill(pg, cfg.api_rows + 1, cfg.api_big_rows, ctx.env["FILEMONITOR_ROOT"])
            sql[cfg.api_big_rows] = sql_timings(pg)
            big = [
                ("list", "list, default page", _get(API_PATH), "key"),
                ("status", "filter status__in=Downloading,Queued",
                 _get(f"{API_PATH}?status__in=Downloading,Queued"), "key"),
            ]  # fmt: skip
            _measure_rows([ours, stock], big, cfg, ctx.api_key, results, server_pids, "@big")
    finally:
        stock.stop()
    return {
        "rows": cfg.api_rows,
        "big_rows": cfg.api_big_rows,
        "clients": cfg.api_clients,
        "basic_clients": cfg.api_basic_clients,
        "basic_seconds": cfg.api_basic_seconds,
        "basic_slice": cfg.api_basic_slice,
        "seconds": cfg.api_seconds,
        "slice": cfg.api_slice,
        "results": results,
        "sql": sql,
    }


def summarize(section):
    """Per row: medians of req/s and latencies for ours and stock, and the ratio."""
    out = []
    for key, entry in section["results"].items():
        row = {"key": key, "label": entry["label"]}
        for side in ("ours", "stock"):
            runs = entry[side]
            row[side] = {
                "rps": median([r["rps"] for r in runs]),
                "p50": median([r["p50"] for r in runs]),
                "p99": median([r["p99"] for r in runs]),
                "web_cpu_ms": median([r.get("web_cpu_ms") for r in runs]),
                "db_cpu_ms": median([r.get("db_cpu_ms") for r in runs]),
                "errors": sum(r["errors"] for r in runs),
                "requests": sum(r["requests"] for r in runs),
            }
        row["ratio"] = row["ours"]["rps"] / row["stock"]["rps"] if row["stock"]["rps"] else None
        web = (row["ours"]["web_cpu_ms"], row["stock"]["web_cpu_ms"])
        row["cpu_ratio"] = web[1] / web[0] if None not in web and web[0] else None
        row["table_rows"] = section["big_rows"] if key.endswith("@big") else section["rows"]
        out.append(row)
    return out
