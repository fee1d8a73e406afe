"""Helpers shared by the benchmark sections: processes, /proc sampling, timing, statistics."""

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
#: The copy of the working tree that every service of a run imports (see snapshot_tree).
TREE = VAR / "tree"
_SNAPSHOT_SKIP = (".git", ".venv", "var", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache",
                  "node_modules", "test-artifacts", "docs")  # fmt: skip
PYTHON = sys.executable
MiB = 1 << 20
GiB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

_PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "all_proxy",
)


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def clean_env(**extra):
    """This process's environment without proxies (all traffic stays on 127.0.0.1)."""
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(sorted_values, fraction):
    """The ``fraction`` quantile (nearest rank) of already sorted values."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout, interval=0.05, what="condition"):
    """Call ``predicate`` until truthy (returned) or ``timeout`` seconds pass (RuntimeError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def port_open(port):
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def loadavg():
    with open("/proc/loadavg") as f:
        return tuple(float(x) for x in f.read().split()[:3])


def machine_summary():
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": mem_kib / (1 << 20),
        "kernel": os.uname().release,
        "python": sys.version.split()[0],
    }


# --- /proc ------------------------------------------------------------------------------------


def _status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kib(pid):
    return _status_kib(pid, "VmRSS:")


def hwm_kib(pid):
    return _status_kib(pid, "VmHWM:")


def reset_hwm(pid):
    """Reset the process's peak RSS (VmHWM) to its current RSS; False where not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_seconds(pid):
    """utime + stime of ``pid`` and of its reaped children, in seconds (None if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is field 3 (state): utime..cstime are fields 14..17.
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def child_pids(pid):
    pids = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return pids
    for tid in tasks:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
            pids.extend(int(x) for x in f.read().split())
    return pids


def tree_pids(pid):
    """``pid`` and all its descendants."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(child_pids(current))
    return found


class CpuMeter:
    """CPU seconds used by a process tree between start() and stop()."""

    def __init__(self, pid):
        self.pid = pid
        self._before = {}

    def _snapshot(self):
        snap = {}
        for pid in tree_pids(self.pid):
            value = cpu_seconds(pid)
            if value is not None:
                snap[pid] = value
        return snap

    def start(self):
        self._before = self._snapshot()
        return self

    def stop(self):
        after = self._snapshot()
        return sum(value - self._before.get(pid, 0.0) for pid, value in after.items())


class RssSampler:
    """Samples VmRSS of a process tree every ``interval`` seconds in a thread.

    ``peak_sum_kib``: the largest sum over the tree at one sample; ``peak_kib[pid]``:
    each process's largest sample.
    """

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.peak_sum_kib = 0
        self.peak_kib = {}
        self.first_kib = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        total = 0
        for pid in tree_pids(self.pid):
            kib = rss_kib(pid)
            if kib is None:
                continue
            total += kib
            self.first_kib.setdefault(pid, kib)
            self.peak_kib[pid] = max(self.peak_kib.get(pid, 0), kib)
        self.peak_sum_kib = max(self.peak_sum_kib, total)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self._sample()


# --- child processes --------------------------------------------------------------------------


class Service:
    """A long-running child process with its output in a log file; a context manager."""

    def __init__(self, name, command, *, env, cwd=TREE, log_dir=None):
        self.name = name
        self.log_path = Path(log_dir or VAR / "logs") / f"{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def check_alive(self):
        if not self.alive():
            tail = self.log_text()[-3000:]
            raise RuntimeError(f"{self.name} exited ({self.process.returncode}); log:\n{tail}")
        return True

    def stop(self, timeout=20):
        if self.alive():
            # Our own session: the process group holds only this service and its children.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


def start_fileserver(root, name, rate=0):
    """A bench.fileserver process serving ``root``; returns (service, base URL)."""
    log_dir = VAR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [PYTHON, "-m", "bench.fileserver", "--root", str(root), "--rate", str(rate)]
    service = Service(name, command, env=clean_env())
    base = wait_for(
        lambda: service.check_alive() and _first_line(service.log_path),
        timeout=15,
        what=f"{name} to start",
    )
    return service, base


def _first_line(path):
    try:
        line = path.read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        return None
    return line if line.startswith("http://") else None


def run(command, **kwargs):
    kwargs.setdefault("check", True)
    kwargs.setdefault("env", clean_env())
    kwargs.setdefault("cwd", TREE)
    return subprocess.run(command, **kwargs)


def snapshot_tree(attempts=3, pause=10.0):
    """Copy the working tree to var/bench/tree; the services of the run import that copy.

    Other engineers edit this tree while a run takes minutes: a copy taken once keeps
    every process of the run on the same code. The copy must import (Django's checks and
    the URLconf): a tree caught mid-edit is copied again after ``pause`` seconds.
    """
    env = clean_env(
        DJANGO_SETTINGS_MODULE="settings",
        DJANGO_SECRET_KEY="snapshot-check",
        FILEMONITOR_VAR_DIR=VAR / "var",
    )
    check = "import django; django.setup(); import rundb.urls, filemonitor.tasks"
    for attempt in range(1, attempts + 1):
        drop_path(TREE)
        shutil.copytree(ROOT, TREE, ignore=shutil.ignore_patterns(*_SNAPSHOT_SKIP))
        done = subprocess.run([PYTHON, "-c", check], cwd=TREE, env=env, capture_output=True,
                              text=True)  # fmt: skip
        if done.returncode == 0:
            return
        error = (done.stderr.strip().splitlines() or ["?"])[-1]
        log(f"the working tree does not import ({error}); attempt {attempt}/{attempts}")
        if attempt < attempts:
            time.sleep(pause)
    raise RuntimeError("the working tree does not import; is someone in the middle of an edit?")


def tree_state():
    """The commit the tree is at, and how many files differ from it (at snapshot time)."""

    def git(*args):
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = [line for line in git("status", "--porcelain").splitlines() if line.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown", "changed": len(changed)}


def drop_path(path):
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def settle():
    """Flush dirty pages so a previous step's writeback does not land in the next timing."""
    os.sync()
    time.sleep(0.05)
