"""Redis restarted under a batch of downloads: a redis-server of the test's own, on a free
port, keeping nothing on disk (``--save "" --appendonly no``), stopped with SHUTDOWN
NOSAVE and started again on the same port.

What a restart keeps: nothing. The downloads already running go on (their worker does
not cancel them, ``CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS=False``),
the worker and its embedded beat reconnect, and the messages that were waiting in the
queue are gone: their rows stay Queued until the stale sweep (beat, every 2 s here)
finds the queue empty, no worker holding their tasks, and queues them again.
"""

import shutil
import socket
import subprocess
import uuid

import pytest
import redis
from celery import Celery

from filemonitor.models import FileMonitor

from .conftest import FaultWorker, MiB, assert_complete_and_clean, poll, wait_final

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server child process on 127.0.0.1:``port`` that keeps nothing on disk."""

    def __init__(self, folder):
        self.folder = folder
        self.port = free_port()
        self.process = None
        self.restarts = 0

    def url(self, db):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=open(self.folder / "redis.log", "ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        poll(self._answers, timeout=30, message=f"redis-server on port {self.port}")
        return self

    def _answers(self):
        assert self.process.poll() is None, (self.folder / "redis.log").read_text()
        try:
            return self.client().ping()
        except redis.ConnectionError:
            return False

    def restart(self):
        """SHUTDOWN NOSAVE, then a new server on the same port: every key is gone."""
        try:
            self.client().shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server hung up as it went
        self.process.wait(timeout=30)
        self.start()
        self.restarts += 1
        assert self.client().dbsize() == 0

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_redis(tmp_path, monkeypatch):
    if shutil.which("redis-server") is None:
        pytest.skip("!!! REDIS RESTART TEST SKIPPED: no redis-server on this machine")
    # Celery apps prefer these variables to their own configuration: the test's sender
    # app must use the URLs it is given. (The run's app has the same URLs in settings.)
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    server = OwnRedis(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def restart_during_batch(fault_server, own_redis, *, downloads, restarts):
    # The test process publishes to its own Redis through an app of its own (not the
    # current app: the rest of the session keeps the run's broker).
    sender = Celery(
        "faults-sender", broker=own_redis.url(0), backend=own_redis.url(1), set_as_current=False
    )
    env = {
        "CELERY_BROKER_URL": own_redis.url(0),
        "CELERY_RESULT_BACKEND": own_redis.url(1),
        "FILEMONITOR_STALE_AFTER": "3",
        "FILEMONITOR_STALE_SWEEP_INTERVAL": "2",
    }
    resources, monitors = {}, []
    with FaultWorker("redis-restart", concurrency=2, beat=True, env=env, control=sender) as worker:
        for n in range(downloads):
            path = f"/redis/{restarts}-{n}.bin"
            resource = fault_server.add(path, size=6 * MiB, seed=110 + n, throttle=2 * MiB)
            task_id = str(uuid.uuid4())
            monitor = FileMonitor.objects.create(
                url=fault_server.url(path), status="Queued", celery_task_id=task_id
            )
            sender.send_task(
                "filemonitor.download_something",
                kwargs={"url": monitor.url, "download_monitor_pk": monitor.pk},
                task_id=task_id,
                queue=worker.queue,
            )
            resources[monitor.pk] = resource
            monitors.append(monitor)
        running_at_restart = set()
        for _ in range(restarts):
            # Both slots busy downloading; the rest waits in Redis.
            running = poll(
                lambda: len(now := running_rows()) == 2 and now,
                timeout=90,
                message="two downloads to be running",
            )
            running_at_restart |= running
            own_redis.restart()
        finals = {m.pk: wait_final(m.pk, timeout=180, worker=worker) for m in monitors}
    sender.close()

    assert {pk: row.status for pk, row in finals.items()} == dict.fromkeys(finals, "Complete")
    for pk, resource in resources.items():
        assert_complete_and_clean(pk, resource, finals[pk].name)
    assert FileMonitor.objects.count() == downloads, "no duplicate rows"
    return monitors, finals, running_at_restart


def running_rows():
    return {
        monitor.pk for monitor in FileMonitor.objects.filter(status="Downloading", progress__gt=0)
    }


def test_redis_restart_during_a_batch_loses_nothing(fault_server, own_redis):
    """Five downloads, two running: Redis restarts; all five end Complete."""
    monitors, finals, running = restart_during_batch(
        fault_server, own_redis, downloads=5, restarts=1
    )
    original = {monitor.pk: monitor.celery_task_id for monitor in monitors}
    # The two running at the restart finished under their first delivery ...
    assert all(finals[pk].celery_task_id == original[pk] for pk in running)
    # ... and the three whose messages the restart lost were queued again by the sweep.
    lost = set(original) - running
    assert len(lost) == 3
    assert all(finals[pk].celery_task_id.endswith("-stale1") for pk in lost), {
        pk: finals[pk].celery_task_id for pk in lost
    }


@pytest.mark.soak
def test_redis_restarted_three_times_during_a_batch_loses_nothing(fault_server, own_redis):
    restart_during_batch(fault_server, own_redis, downloads=12, restarts=3)
