"""Fault injection: real workers started, killed and restarted; a misbehaving file server.

Each test that starts a worker gives it a queue of its own (``FaultWorker``), so that
the session's shared worker never takes a download meant for a worker with special
settings (a tiny disk, short timeouts), and ``route_downloads`` sends what the API
queues in this process to that queue.
"""

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from filemonitor.models import FileMonitor
from tests.conftest import API, REPO, poll, worker_env
from tests.processes import StartStop, stop_session

__all__ = ["poll"]

MiB = 1024 * 1024
FINAL = ("Complete", "Connection Lost", "Connection Error")


def is_final(status):
    return status in FINAL or "Error" in status


def broker_is_redis():
    return settings.CELERY_BROKER_URL.startswith("redis")


def database_is_postgres():
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


class FaultWorker(StartStop):
    """A real ``celery -A rundb worker`` on a queue of its own, in a session of its own.

    ``env`` adds to (or overrides) :func:`tests.conftest.worker_env`; ``control`` is the
    Celery app used to ping it (the test run's by default: pass another one for a
    worker on another broker). Use as a context manager: started and ready inside,
    stopped (and its whole process group killed if need be) on the way out.
    """

    def __init__(self, name, *, concurrency=2, pool="prefork", env=None, beat=False,
                 queue=None, control=None):  # fmt: skip
        self.label = name
        self.name = f"{name}-{os.getpid()}@localhost"
        self.queue = queue or f"faults-{name}-{uuid.uuid4().hex[:8]}"
        self.control = control
        self.log_path = Path(settings.FILEMONITOR_ROOT).parent / f"{name}.log"
        self.command = [
            sys.executable, "-m", "celery", "-A", "rundb", "worker", "-n", self.name,
            "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "INFO",
            "--without-mingle", "--without-gossip", "-Q", self.queue,
        ]  # fmt: skip
        if beat:
            schedule = Path(settings.FILEMONITOR_ROOT).parent / f"{name}-{self.queue}-beat"
            self.command += ["--beat", "--schedule", str(schedule)]
        self.env = worker_env(
            **{
                "CELERY_TASK_DEFAULT_QUEUE": self.queue,
                "FILEMONITOR_PROGRESS_INTERVAL": "0.2",
                "CELERY_WORKER_LOST_WAIT": "1",  # a killed pool process is noticed at once
                **(env or {}),
            }
        )
        self.process = None
        self.log = None

    def start(self, timeout=90):
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command, cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return self.wait_ready(timeout)

    def wait_ready(self, timeout=90):
        if self.control is None:
            from rundb.celery import app as control
        else:
            control = self.control

        def answered():
            assert self.process.poll() is None, f"worker exited\n{self.tail()}"
            return control.control.ping(destination=[self.name], timeout=0.5)

        poll(answered, timeout=timeout, interval=0.2, message=f"worker {self.name} to answer")
        return self

    def descendants(self):
        """Pids of every process of the worker (its session): pool processes, beat."""
        out = subprocess.run(["pgrep", "-s", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split() if int(pid) != self.process.pid]

    def process_holding(self, folder, exclude=()):
        """The pid of the worker process that has ``folder`` open (the download's flock)."""

        def holder():
            for pid in self.descendants():
                if pid in exclude:
                    continue
                fd_dir = Path(f"/proc/{pid}/fd")
                try:
                    targets = {os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)}
                except OSError:
                    continue
                if str(folder) in targets:
                    return pid
            return None

        return poll(holder, timeout=60, message=f"a process of {self.name} to hold {folder}")

    def kill_all(self):
        """SIGKILL the main process and every child at once, as the OOM killer or a
        container stop past its grace period would; nothing gets to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        poll(lambda: not self.descendants(), timeout=30, message="the worker's children to die")

    def stop(self):
        stop_session(self.process)  # and the pool processes or beat left behind
        if self.log is not None:
            self.log.close()

    def tail(self, lines=60):
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.log_path.name} ---\n" + "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def fault_server():
    """A file server of the module's own: its stalled responses are released at the end."""
    from tests.engine.httpserver import FileServer

    with FileServer() as server:
        yield server


def post_download(client, auth, url, **fields):
    response = client.post(
        API, data=json.dumps({"url": url, **fields}), content_type="application/json", **auth
    )
    assert response.status_code == 201, response.content
    return int(response["Location"].rstrip("/").rsplit("/", 1)[1])


def row(pk):
    return FileMonitor.objects.filter(pk=pk).first()


def wait_final(pk, timeout=90, worker=None):
    def final():
        current = row(pk)
        return current if current is not None and is_final(current.status) else None

    try:
        return poll(final, timeout=timeout, interval=0.1, message=f"row {pk} to finish")
    except AssertionError as exc:
        detail = f"\nrow: {row(pk)!r}" + (f"\n{worker.tail()}" if worker else "")
        raise AssertionError(f"{exc}{detail}") from None


def wait_progress(pk, at_least, timeout=60):
    """Wait until row ``pk`` is Downloading with at least ``at_least`` bytes written."""
    return poll(
        lambda: (current := row(pk)) and current.status == "Downloading"
        and current.progress >= at_least and current,
        timeout=timeout, interval=0.05, message=f"row {pk} to pass {at_least} bytes",
    )  # fmt: skip


def row_folders(pk):
    """Every folder under the download root made for row ``pk`` (named ``<pk>-...``)."""
    root = Path(settings.FILEMONITOR_ROOT)
    return sorted(str(path) for path in root.glob(f"{pk}-*"))


def assert_complete_and_clean(pk, resource, name):
    """Complete with the right md5 and size, one row, one folder holding only the file."""
    current = row(pk)
    assert current.status == "Complete", current.status
    assert current.md5sum == resource.md5
    assert current.size == current.progress == resource.size
    assert FileMonitor.objects.filter(url=current.url).count() == 1, "a duplicate row"
    assert row_folders(pk) == [current.local_dir], "a stray folder of this row"
    assert sorted(os.listdir(current.local_dir)) == [name], "a stray .part or .part.meta"
    assert Path(current.local_dir, name).stat().st_size == resource.size


def assert_failed_and_clean(pk, status):
    """Failed with ``status``, no md5, no folder (so no partial file) left behind."""
    current = row(pk)
    assert current.status == status, f"row {pk}: {current.status!r}, expected {status!r}"
    assert current.md5sum is None
    assert current.local_dir == ""
    assert row_folders(pk) == [], "files left behind by a failed download"


def range_starts(server, path):
    """The first byte asked for by each request for ``path`` (0 without a Range)."""
    starts = []
    for request in server.requests_for(path):
        header = request.headers.get("range", "bytes=0-")
        starts.append(int(header.removeprefix("bytes=").split("-")[0]))
    return starts
