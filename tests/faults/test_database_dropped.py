"""Database connections dropped while downloads run.

On PostgreSQL the real thing: ``pg_terminate_backend`` on every other connection to the
test database, three times while three downloads run. Each write of the worker is
retried once on a new connection (filemonitor/progress.py); a progress write that still
fails is carried to the next one, and the final write, if it cannot be made, makes the
task retry (Celery autoretry) instead of losing the outcome. The fault is also injected
without PostgreSQL (a failing UPDATE) to check each of those paths on both databases.
"""

import psycopg
import pytest
from django.db import OperationalError, connection
from django.db.models import QuerySet

from filemonitor.models import FileMonitor
from filemonitor.progress import ProgressWriter
from filemonitor.tasks import download_something

from .conftest import (
    FaultWorker,
    MiB,
    assert_complete_and_clean,
    database_is_postgres,
    is_final,
    poll,
    post_download,
    wait_final,
)

pytestmark = pytest.mark.django_db(transaction=True)

needs_postgres = pytest.mark.skipif(
    not database_is_postgres(),
    reason="PostgreSQL only: pg_terminate_backend ends server sessions; SQLite has none",
)


def terminate_other_backends():
    """End every other session on the test database; how many were ended."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return sum(1 for (ended,) in cursor.fetchall() if ended)


def all_moved_on(pks, marks):
    """Every download wrote progress since ``marks`` (or has finished)."""
    rows = {monitor.pk: monitor for monitor in FileMonitor.objects.filter(pk__in=pks)}
    return all(is_final(rows[pk].status) or rows[pk].progress > marks[pk] for pk in pks)


@needs_postgres
@pytest.mark.worker
@pytest.mark.postgres
def test_downloads_survive_their_connections_being_terminated(
    client, admin_auth, fault_server, route_downloads
):
    resources = [
        fault_server.add(f"/db/{n}.bin", size=8 * MiB, seed=90 + n, throttle=2 * MiB)
        for n in range(3)
    ]
    terminated = []
    with FaultWorker("db-drops", concurrency=3) as worker:
        route_downloads(worker.queue)
        pks = [
            post_download(client, admin_auth, fault_server.url(f"/db/{n}.bin")) for n in range(3)
        ]
        for _ in range(3):
            marks = {monitor.pk: monitor.progress for monitor in FileMonitor.objects.all()}
            poll(
                lambda marks=marks: all_moved_on(pks, marks),
                timeout=60,
                message="every download to write progress again",
            )
            terminated.append(terminate_other_backends())
        for pk in pks:
            wait_final(pk, worker=worker)
        log = worker.log_path.read_text(errors="replace")
    assert all(terminated), f"sessions ended per round: {terminated}"
    for n, (pk, resource) in enumerate(zip(pks, resources, strict=True)):
        assert_complete_and_clean(pk, resource, f"{n}.bin")
    assert "retrying on a new connection" in log, "no write met a dropped connection?"


@needs_postgres
def test_a_write_on_a_terminated_connection_is_made_on_a_new_one():
    monitor = FileMonitor.objects.create(url="http://h/f", status="Starting", celery_task_id="t1")
    writer = ProgressWriter(monitor.pk, "t1", min_interval=0)
    writer.on_start("f.bin", 100)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [(pid,)] = cursor.fetchall()
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "dbname": connection.settings_dict["NAME"]}) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    writer.on_progress(60, 100)
    assert writer.failed_writes == 0
    monitor.refresh_from_db()
    assert (monitor.status, monitor.progress) == ("Downloading", 60)


class FailingUpdates:
    """Make the next ``times`` UPDATEs of FileMonitor rows fail as a dropped connection."""

    def __init__(self, monkeypatch, times):
        self.left = times
        self.original = QuerySet.update
        monkeypatch.setattr(QuerySet, "update", self)

    def __get__(self, queryset, owner=None):
        return lambda **columns: self(queryset, **columns)

    def __call__(self, queryset, **columns):
        if queryset.model is FileMonitor and self.left:
            self.left -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return self.original(queryset, **columns)


@pytest.fixture
def monitor():
    return FileMonitor.objects.create(url="http://h/f", status="Starting", celery_task_id="t1")


def test_a_failed_write_is_retried_once(monkeypatch, monitor):
    writer = ProgressWriter(monitor.pk, "t1", min_interval=0)
    FailingUpdates(monkeypatch, times=1)
    writer.on_start("f.bin", 100)
    assert writer.failed_writes == 0
    monitor.refresh_from_db()
    assert (monitor.status, monitor.name, monitor.size) == ("Downloading", "f.bin", 100)


def test_a_progress_write_that_fails_twice_goes_out_with_the_next(monkeypatch, monitor):
    writer = ProgressWriter(monitor.pk, "t1", min_interval=0)
    FailingUpdates(monkeypatch, times=2)
    writer.on_start("f.bin", 100)  # lost for now: the download goes on
    assert writer.failed_writes == 1 and not writer.should_stop()
    monitor.refresh_from_db()
    assert monitor.status == "Starting"
    writer.on_progress(40, 100)
    monitor.refresh_from_db()
    assert (monitor.status, monitor.name, monitor.size, monitor.progress) == (
        "Downloading", "f.bin", 100, 40,
    )  # fmt: skip


def test_a_final_write_that_fails_twice_raises(monkeypatch, monitor):
    writer = ProgressWriter(monitor.pk, "t1", min_interval=0)
    FailingUpdates(monkeypatch, times=2)
    with pytest.raises(OperationalError):
        writer.finish(status="Complete")
    monitor.refresh_from_db()
    assert monitor.status == "Starting"


def test_a_failing_progress_report_does_not_stop_the_download(monitor):
    def report(done, total, speed):
        raise ConnectionError("result backend down")

    writer = ProgressWriter(monitor.pk, "t1", min_interval=0, report=report)
    writer.on_start("f.bin", 100)
    writer.on_progress(50, 100)
    monitor.refresh_from_db()
    assert monitor.progress == 50


def test_the_task_retries_when_its_outcome_cannot_be_written(monkeypatch, fault_server):
    """The final write fails even on a new connection: the task runs again (eagerly
    here), downloads again and records Complete, rather than losing the outcome."""
    resource = fault_server.add("/db/outcome.bin", size=MiB, seed=95)
    monitor = FileMonitor.objects.create(
        url=fault_server.url("/db/outcome.bin"), status="Queued", celery_task_id="t-outcome"
    )
    finish = ProgressWriter.finish
    failures = []

    def finish_failing_once(writer, **columns):
        if columns.get("status") == "Complete" and not failures:
            failures.append(columns)
            raise OperationalError("the database went away")
        return finish(writer, **columns)

    monkeypatch.setattr(ProgressWriter, "finish", finish_failing_once)
    download_something.apply(
        kwargs={"url": monitor.url, "download_monitor_pk": monitor.pk}, task_id="t-outcome"
    )
    assert failures, "the fault was not injected"
    monitor.refresh_from_db()
    assert (monitor.status, monitor.md5sum) == ("Complete", resource.md5)
    assert fault_server.count("/db/outcome.bin") == 2
    assert_complete_and_clean(monitor.pk, resource, "outcome.bin")
