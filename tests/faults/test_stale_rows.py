"""Stale rows: in progress, no progress for FILEMONITOR_STALE_AFTER, no worker holding them.

End to end: a row left Downloading an hour ago by a task no worker has, with half the
file in its ``.part``, is found by the sweep that Celery beat runs inside a worker,
queued again and resumed to Complete. The decisions themselves (never without a
worker's answer, never a Queued row whose message may still wait, at most
FILEMONITOR_STALE_MAX_REQUEUES times) are checked with the inspection faked.
"""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from filemonitor import stale
from filemonitor.claims import claim_monitor
from filemonitor.engine.partfile import PartFile
from filemonitor.models import FileMonitor
from filemonitor.paths import new_download_dir
from filemonitor.status import STALLED
from tests.engine.httpserver import pattern_bytes

from .conftest import FaultWorker, MiB, assert_complete_and_clean, range_starts, wait_final

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_TASK = "00000000-0000-4000-8000-00000000dead"


def left_behind(status, *, task_id=DEAD_TASK, age=3600, **fields):
    """A row as a vanished worker leaves it: ``updated`` ``age`` seconds ago."""
    monitor = FileMonitor.objects.create(status=status, celery_task_id=task_id, **fields)
    FileMonitor.objects.filter(pk=monitor.pk).update(
        updated=timezone.now() - timedelta(seconds=age)
    )
    monitor.refresh_from_db()
    return monitor


def half_downloaded(monitor, resource, name):
    """Give ``monitor`` a folder holding the first half of ``resource`` in ``name``.part."""
    folder = new_download_dir(str(monitor.pk))
    part = PartFile(folder, name)
    part.write_meta({"etag": resource.etag, "last_modified": None, "total": resource.size})
    part.path.write_bytes(pattern_bytes(resource.size, resource.seed)[: resource.size // 2])
    FileMonitor.objects.filter(pk=monitor.pk).update(local_dir=folder, name=name)
    monitor.refresh_from_db()
    return folder


@pytest.mark.worker
def test_a_row_left_downloading_is_recovered_by_beat_and_completes(fault_server):
    size = 6 * MiB
    resource = fault_server.add("/stale/left.bin", size=size, seed=101)
    monitor = left_behind(
        "Downloading", url=fault_server.url("/stale/left.bin"), size=size, progress=size // 2
    )
    folder = half_downloaded(monitor, resource, "left.bin")
    env = {"FILEMONITOR_STALE_SWEEP_INTERVAL": "1"}
    with FaultWorker("stale-beat", concurrency=2, beat=True, env=env) as worker:
        final = wait_final(monitor.pk, worker=worker)
    assert final.status == "Complete"
    assert_complete_and_clean(monitor.pk, resource, "left.bin")
    assert final.local_dir == folder, "the row kept its folder"
    assert range_starts(fault_server, "/stale/left.bin") == [size // 2], "resumed, not restarted"
    assert final.celery_task_id.endswith("-stale1")


@pytest.mark.worker
def test_the_command_marks_a_row_stalled_after_the_last_requeue(fault_server, celery_worker):
    """With a worker answering: stale three times already, so "Error: stalled"."""
    resource = fault_server.add("/stale/hopeless.bin", size=MiB, seed=102)
    monitor = left_behind(
        "Downloading",
        task_id=stale.requeue_task_id(settings.FILEMONITOR_STALE_MAX_REQUEUES),
        url=fault_server.url("/stale/hopeless.bin"),
    )
    folder = half_downloaded(monitor, resource, "hopeless.bin")
    call_command("recover_stale")
    monitor.refresh_from_db()
    assert (monitor.status, monitor.local_dir, monitor.celery_task_id) == (STALLED, "", "")
    assert not Path(folder).exists()
    assert fault_server.count("/stale/hopeless.bin") == 0


def test_the_queue_depth_is_read_from_the_broker():
    """On this run's broker (filesystem or Redis): messages nobody consumes are counted."""
    from rundb.celery import app

    queue = f"faults-depth-{uuid.uuid4().hex[:8]}"
    assert stale.broker_queue_depth(app, queue) == 0
    for _ in range(2):
        app.send_task("filemonitor.nothing", queue=queue)
    try:
        assert stale.broker_queue_depth(app, queue) == 2
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)


# --- the decisions, with the workers' answers faked -----------------------------------


@pytest.fixture
def workers(monkeypatch):
    """Fake answers: ``workers.live`` (None: nobody answered) and ``workers.depth``."""

    class Workers:
        live = set()
        depth = 0
        asked = []
        sent = []

    def live_task_ids(app, task_ids, timeout=stale.INSPECT_TIMEOUT):
        Workers.asked.append(list(task_ids))
        return Workers.live

    monkeypatch.setattr(stale, "live_task_ids", live_task_ids)
    monkeypatch.setattr(stale, "broker_queue_depth", lambda app: Workers.depth)
    from filemonitor.tasks import download_something

    monkeypatch.setattr(
        download_something,
        "apply_async",
        lambda args=None, kwargs=None, **options: Workers.sent.append((kwargs, options)),
    )
    return Workers


def test_fresh_rows_are_not_even_looked_at(workers):
    left_behind("Downloading", age=10, url="http://h/fresh")
    assert stale.recover_stale_rows() == stale.Recovery()
    assert workers.asked == [] and workers.sent == []


def test_nothing_is_done_when_no_worker_answers(workers):
    monitor = left_behind("Downloading", url="http://h/a")
    workers.live = None
    recovery = stale.recover_stale_rows()
    assert recovery.no_reply and not recovery.requeued
    assert FileMonitor.objects.get(pk=monitor.pk).celery_task_id == DEAD_TASK
    assert workers.sent == []
    with pytest.raises(CommandError, match="No worker answered"):
        call_command("recover_stale")


def test_a_task_a_worker_holds_is_left_alone(workers):
    monitor = left_behind("Downloading", url="http://h/slow")
    workers.live = {DEAD_TASK}
    assert stale.recover_stale_rows().alive == [monitor.pk]
    assert workers.asked == [[DEAD_TASK]] and workers.sent == []


def test_a_stale_row_is_queued_again_keeping_its_folder(workers, settings, tmp_path):
    settings.FILEMONITOR_ROOT = tmp_path
    monitor = left_behind("Starting", url="http://h/b", local_dir=str(tmp_path / "1-x"))
    assert stale.recover_stale_rows().requeued == [monitor.pk]
    monitor.refresh_from_db()
    assert monitor.status == "Queued" and monitor.local_dir == str(tmp_path / "1-x")
    assert stale.requeue_count(monitor.celery_task_id) == 1
    [(kwargs, options)] = workers.sent
    assert kwargs == {"url": "http://h/b", "download_monitor_pk": monitor.pk}
    assert options == {"task_id": monitor.celery_task_id}
    # The old task's message, should it turn up after all, finds the row not its own.
    assert claim_monitor(DEAD_TASK, "http://h/b", monitor.pk) is None


def test_a_queued_row_waits_while_messages_wait(workers):
    monitor = left_behind("Queued", url="http://h/q")
    workers.depth = 3
    assert stale.recover_stale_rows().waiting == [monitor.pk]
    workers.depth = None  # the broker could not say
    assert stale.recover_stale_rows().waiting == [monitor.pk]
    workers.depth = 0
    assert stale.recover_stale_rows().requeued == [monitor.pk]
    assert len(workers.sent) == 1


def test_requeues_are_counted_and_end_in_error_stalled(workers, settings, tmp_path):
    settings.FILEMONITOR_ROOT = tmp_path
    settings.FILEMONITOR_STALE_MAX_REQUEUES = 2
    folder = tmp_path / "1-y"
    folder.mkdir()
    (folder / "f.bin.part").write_bytes(b"x")
    monitor = left_behind("Downloading", url="http://h/c", local_dir=str(folder))
    for count in (1, 2):
        assert stale.recover_stale_rows().requeued == [monitor.pk]
        monitor.refresh_from_db()
        assert stale.requeue_count(monitor.celery_task_id) == count
        FileMonitor.objects.filter(pk=monitor.pk).update(
            status="Downloading", updated=timezone.now() - timedelta(hours=1)
        )
    assert stale.recover_stale_rows().failed == [monitor.pk]
    monitor.refresh_from_db()
    assert (monitor.status, monitor.celery_task_id, monitor.local_dir) == (STALLED, "", "")
    assert not folder.exists()
    assert len(workers.sent) == 2


def test_a_row_claimed_meanwhile_is_left_alone(workers, monkeypatch):
    monitor = left_behind("Queued", url="http://h/d")

    def claimed_while_asking(app, task_ids, timeout=stale.INSPECT_TIMEOUT):
        claim_monitor(DEAD_TASK, monitor.url, monitor.pk)  # its task started just now
        return set()

    monkeypatch.setattr(stale, "live_task_ids", claimed_while_asking)
    assert stale.recover_stale_rows() == stale.Recovery()
    monitor.refresh_from_db()
    assert (monitor.status, monitor.celery_task_id) == ("Starting", DEAD_TASK)
    assert workers.sent == []


def test_the_dry_run_lists_without_changing(workers, capsys):
    monitor = left_behind("Downloading", url="http://h/e")
    call_command("recover_stale", "--dry-run", "--stale-after", "60")
    out = capsys.readouterr().out
    assert f"{monitor.pk}\tDownloading\tno progress for" in out
    assert "1 download(s)" in out
    assert FileMonitor.objects.get(pk=monitor.pk).status == "Downloading"
    assert workers.asked == []
