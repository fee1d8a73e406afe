"""Section 2: where the download loop spends its time.

py-spy (cProfile if py-spy cannot attach) tells which Python thread and line; perf,
where the machine has it, adds what py-spy cannot see: the kernel's share (copies
into and out of the kernel, page allocation, disk submission) and the libraries'.
"""

import collections
import json
import linecache
import pstats
import re
import shutil
import subprocess
from pathlib import Path

from .common import PYTHON, VAR, clean_env, drop_path, log, run, settle

RATE = 250  # py-spy samples per second
_THREAD = re.compile(r"^thread \((?P<tid>\d+)\)(?::(?P<name>.*))?$")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*):(?P<line>\d+)\)$")


def _py_spy():
    found = Path(PYTHON).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


#: Category names the report looks for.
MD5, WRITE, WRITEBACK, FSYNC, SOCKET = (
    "md5 update",
    "write() of the .part (O_DIRECT or page cache)",
    "start of disk writeback (posix_fadvise)",
    "fsync (disk)",
    "socket read",
)


STAGE = "copy into the aligned buffer (O_DIRECT staging)"
#: Words in a line of source that say what it does, and its category.
_LINE_MARKERS = (
    ("fadvise", WRITEBACK),
    ("sync_file_range", WRITEBACK),
    ("fsync", FSYNC),
    ("_staged[", STAGE),
)


def _category(thread, frames):
    """A readable name for where one sample was, from its innermost frame.

    fetch_once runs no thread but the engine's, so every sample of another thread
    belongs to the fetch; the main thread's only inside ``fetch()``. Hashing and
    writing show as the Python line that calls into C (hashlib, os.write).
    """
    if thread == "MainThread" and not any(func == "fetch" for func, _p, _l in frames):
        return "start-up (interpreter, imports)"
    func, path, line = frames[-1]
    text = linecache.getline(path, line).strip() if path else ""
    consume = "consume(" in text  # a consumer thread's call of its job (hash or write)
    if "update" in text or func in ("update", "hash_prefix") or (consume and "hash" in thread):
        return MD5
    marked = next((category for marker, category in _LINE_MARKERS if marker in text), None)
    if marked:
        return marked
    if "write(" in text or "flush(" in text or (consume and "writ" in thread):
        return WRITE
    if func in ("readinto", "recv_into") or path.endswith("socket.py"):
        return SOCKET
    if path.endswith("queue.py") or path.endswith("threading.py"):
        return "queue hand-off / waits"
    if "urllib3" in path or "http/client.py" in path:
        return "urllib3/http.client read path"
    if "filemonitor/engine" in path:
        return "engine loop (Python)"
    return f"other: {func}"


def _parse_raw(text):
    """{(thread, category): samples}, {leaf frame: samples}, {thread: samples}."""
    categories = collections.Counter()
    leaves = collections.Counter()
    threads = collections.Counter()
    stacks, names = [], {}
    for raw in text.splitlines():
        stack, _, count = raw.rpartition(" ")
        match = _THREAD.match(stack.split(";", 1)[0])
        if match and count.isdigit():
            stacks.append((match["tid"], stack.split(";")[1:], int(count)))
            if match["name"]:
                names[match["tid"]] = match["name"].strip()
    for tid, parts, samples in stacks:
        thread = names.get(tid, f"thread {tid}")
        frames = []
        for part in parts[1:]:
            match = _FRAME.match(part)
            if match:
                frames.append((match["func"], match["path"], int(match["line"])))
        if not frames:
            continue
        category = _category(thread, frames)
        categories[(thread, category)] += samples
        if not category.startswith("start-up"):
            threads[thread] += samples
            func, path, line = frames[-1]
            short = "/".join(Path(path).parts[-2:])
            leaves[f"{func} ({short}:{line})"] += samples
    return categories, leaves, threads


def profile_fetch(url, md5, size):
    """py-spy of one engine fetch of ``url``; a summary dict for the report."""
    dest = VAR / "out" / "profile"
    drop_path(dest)
    dest.mkdir(parents=True)
    raw = VAR / "profile.raw.txt"
    fetch = [PYTHON, "-m", "bench.fetch_once", url, str(dest), "--md5", md5]
    spy = _py_spy()
    settle()
    if spy:
        options = ["--threads", "--nonblocking", "--full-filenames", "--rate", str(RATE)]
        command = [spy, "record", *options, "--format", "raw", "-o", str(raw), "--", *fetch]
        done = subprocess.run(command, capture_output=True, text=True, env=clean_env())
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        if done.returncode == 0 and lines and raw.exists():
            drop_path(dest)
            return _summary("py-spy", json.loads(lines[-1])["seconds"], raw.read_text(), size)
        log(f"py-spy could not profile ({done.stderr.strip()[-200:]}); using cProfile")
    return _cprofile(fetch, dest, size)


def _summary(tool, seconds, text, size):
    categories, leaves, threads = _parse_raw(text)
    busy = sum(threads.values()) or 1
    wall_samples = seconds * RATE
    return {
        "tool": tool,
        "seconds": seconds,
        "size": size,
        "rate": RATE,
        "threads": {t: n / wall_samples for t, n in threads.items()},
        "categories": [
            (thread, category, n / busy)
            for (thread, category), n in categories.most_common()
            if not category.startswith("start-up")
        ],
        "top": [(leaf, n / busy) for leaf, n in leaves.most_common(10)],
    }


def _cprofile(fetch, dest, size):
    stats_path = VAR / "profile.cprofile"
    out = run([*fetch, "--cprofile", str(stats_path)], capture_output=True, text=True)
    drop_path(dest)
    seconds = json.loads(out.stdout.splitlines()[-1])["seconds"]
    stats = pstats.Stats(str(stats_path))
    total = stats.total_tt or 1
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:10]
    top = [(f"{func} ({Path(path).name}:{line})", tt / total) for (path, line, func), (
        _cc, _nc, tt, _ct, _callers) in rows]  # fmt: skip
    return {"tool": "cProfile (main thread only)", "seconds": seconds, "size": size,
            "rate": None, "threads": {}, "categories": [], "top": top}  # fmt: skip


PERF_RATE = 999  # samples per second of CPU time (cpu-clock)
#: The kernel functions a download keeps busy, in words.
KERNEL_WORDS = {
    "copy_folio_from_iter_atomic": "copy into page-cache pages (buffered write)",
    "_copy_to_iter": "copy out of socket buffers (recv)",
    "_copy_from_iter": "copy into the kernel",
    "clear_page_erms": "zeroing newly allocated pages",
    "gup_fast_fallback": "pinning user pages for O_DIRECT",
    "handle_softirqs": "softirq work (loopback network, I/O completion)",
    "_raw_spin_unlock_irqrestore": "lock release with interrupts (wake-ups, I/O completion)",
    "finish_task_switch.isra.0": "context switches",
}
#: Shared objects, in words.
DSO_WORDS = {
    "libcrypto": "MD5 (OpenSSL's libcrypto)",
    "[kernel.kallsyms]": "kernel",
    "libpython": "Python interpreter",
    "libc.so": "C library (memmove: staging copies)",
}


def perf_fetch(url, md5, size):
    """perf of one engine fetch of ``url``, kernel included; None without a working perf."""
    perf = shutil.which("perf")
    if not perf:
        log("perf not installed: section 2 has no kernel-inclusive profile")
        return None
    dest = VAR / "out" / "perf"
    drop_path(dest)
    dest.mkdir(parents=True)
    data = VAR / "perf.data"
    fetch = [PYTHON, "-m", "bench.fetch_once", url, str(dest), "--md5", md5]
    record = [perf, "record", "-e", "cpu-clock", "-F", str(PERF_RATE), "-o", str(data), "--"]
    settle()
    done = subprocess.run([*record, *fetch], capture_output=True, text=True, env=clean_env())
    drop_path(dest)
    if done.returncode != 0:
        log(f"perf record failed ({done.stderr.strip()[-200:]}): no kernel-inclusive profile")
        return None
    by_dso = _perf_shares(perf, data, "dso")
    kernel = _perf_shares(perf, data, "sym", "--dsos", "[kernel.kallsyms]")
    return {
        "tool": "perf",
        "rate": PERF_RATE,
        "size": size,
        "by_library": [(_in_words(DSO_WORDS, name), share) for name, share in by_dso],
        "kernel_top": [(name, KERNEL_WORDS.get(name, ""), share) for name, share in kernel[:8]],
    }


def _perf_shares(perf, data, sort, *options):
    """[(name, share of all samples)] from ``perf report``, largest first."""
    command = [perf, "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
               "--sort", sort, "--percent-limit", "0.5", *options]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    shares = []
    for line in out.splitlines():
        match = re.match(r"^\s+([\d.]+)%\s+(?:\[k\]\s+)?(\S.*?)\s*$", line)
        if match:
            shares.append((match[2], float(match[1]) / 100))
    return shares


def _in_words(words, name):
    return next((text for key, text in words.items() if key in name), name)
