"""Measure fetch() read sizes and read methods on a loopback download (default 1 GiB).

Run from the repository root::

    .venv/bin/python bench/engine_chunks.py [--size BYTES] [--runs N] [--dir DIR]

The file is served by tests/engine/httpserver.py in a separate process, so the
server does not compete with the client for the GIL. Files go to a temporary
directory under DIR (default: the system's; /dev/shm takes the disk out).
Each line: median and fastest wall time of N round-robin runs, and the
median CPU time the client process spent (all its threads).
"""

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filemonitor.engine import fetch  # noqa: E402
from filemonitor.engine import partfile as engine_partfile  # noqa: E402

CHUNK_SIZES = (64 << 10, 256 << 10, 1 << 20, 4 << 20)
BASE_DIR = None  # set from --dir


def serve(size):
    """Start the test file server in a child process; return (process, url)."""
    command = [sys.executable, "-m", "tests.engine.httpserver", "--size", str(size)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return server, server.stdout.readline().strip()


def measure(variants, runs):
    """{label: (median wall, min wall, median CPU)} seconds, CPU = this process, all threads.

    The variants run round-robin so that load spikes hit all alike; CPU time
    is the figure that load from other processes disturbs least.
    """
    times = {label: [] for label in variants}
    for _ in range(runs):
        for label, function in variants.items():
            began, cpu = time.perf_counter(), _cpu_seconds()
            function()
            times[label].append((time.perf_counter() - began, _cpu_seconds() - cpu))
    return {
        label: (
            statistics.median(w for w, _ in t),
            min(w for w, _ in t),
            statistics.median(c for _, c in t),
        )
        for label, t in times.items()
    }


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def engine(url, chunk_size, sync=True):
    """fetch() as shipped (hash and write in a second thread)."""
    with tempfile.TemporaryDirectory(dir=BASE_DIR) as dest:
        if sync:
            fetch(url, dest, chunk_size=chunk_size)
        else:
            with mock.patch.object(engine_partfile.os, "fsync"):
                fetch(url, dest, chunk_size=chunk_size)


def inline(url, chunk_size, method="read", store=True):
    """A plain loop reading with ``method``; hashes and writes inline when ``store``."""
    digest = hashlib.md5(usedforsecurity=False)
    with (
        tempfile.TemporaryDirectory(dir=BASE_DIR) as dest,
        open(os.path.join(dest, "f"), "wb") as out,
    ):
        headers = {"Accept-Encoding": "identity"}
        with requests.get(url, stream=True, headers=headers, timeout=(10, 30)) as resp:
            if method == "iter_content":
                chunks = resp.iter_content(chunk_size)
            else:
                read = getattr(resp.raw, method)
                chunks = iter(lambda: read(chunk_size, decode_content=False), b"")
            for chunk in chunks:
                if store:
                    digest.update(chunk)
                    out.write(chunk)


def variants(url):
    found = {}
    for chunk_size in CHUNK_SIZES:
        found[f"engine, {chunk_size >> 10} KiB reads"] = lambda c=chunk_size: engine(url, c)
    found["engine, 1024 KiB reads, no fsync"] = lambda: engine(url, 1 << 20, sync=False)
    found["inline hash+write, 1024 KiB, raw.read"] = lambda: inline(url, 1 << 20)
    for method in ("read", "read1", "iter_content"):
        label = f"read and discard, 1024 KiB, {method}"
        found[label] = lambda m=method: inline(url, 1 << 20, m, store=False)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1 << 30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where the temporary directories go")
    args = parser.parse_args()
    global BASE_DIR
    BASE_DIR = args.dir
    server, url = serve(args.size)
    try:
        engine(url, 1 << 20)  # warm up the server and the page cache
        for label, (median, fastest, cpu) in measure(variants(url), args.runs).items():
            rate = args.size / median / (1 << 20)
            print(
                f"{label:<40} wall median {median:5.2f} s ({rate:4.0f} MiB/s), "
                f"min {fastest:5.2f} s; CPU {cpu:5.2f} s",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
