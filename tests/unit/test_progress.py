"""ProgressWriter: throttled, single-column writes that never clobber a client's change."""

import pytest

from filemonitor.models import FileMonitor
from filemonitor.progress import ProgressWriter

pytestmark = pytest.mark.django_db


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def row():
    return FileMonitor.objects.create(url="http://h/f", status="Starting", celery_task_id="t1")


def test_writes_at_most_once_per_interval(row):
    """A thousand progress calls within 2.5 s of fake time cost three UPDATEs."""
    clock = FakeClock()
    writer = ProgressWriter(row.pk, "t1", min_interval=1.0, clock=clock)
    writer.on_start("f.bin", 1000)
    for done in range(1, 1001):
        clock.now += 0.0025
        writer.on_progress(done, 1000)
    assert writer.writes == 1 + 2  # on_start, then one per elapsed second
    writer.finish(status="Complete", progress=1000)
    row.refresh_from_db()
    assert (row.status, row.progress, row.size, row.name) == ("Complete", 1000, 1000, "f.bin")


def test_progress_never_exceeds_size(row):
    clock = FakeClock()
    writer = ProgressWriter(row.pk, "t1", min_interval=1.0, clock=clock)
    writer.on_start("f.bin", 10)
    clock.now += 5
    writer.on_progress(25, 10)
    row.refresh_from_db()
    assert row.progress == 10


def test_patched_fields_survive_progress_writes(row):
    """A PATCH of tags between two progress writes is not overwritten."""
    clock = FakeClock()
    writer = ProgressWriter(row.pk, "t1", min_interval=1.0, clock=clock)
    writer.on_start("f.bin", 100)
    FileMonitor.objects.filter(pk=row.pk).update(tags="patched")
    clock.now += 2
    writer.on_progress(50, 100)
    writer.finish(status="Complete", progress=100)
    row.refresh_from_db()
    assert (row.tags, row.progress, row.status) == ("patched", 100, "Complete")


def test_updated_moves_with_progress(row):
    before = FileMonitor.objects.get(pk=row.pk).updated
    clock = FakeClock()
    writer = ProgressWriter(row.pk, "t1", min_interval=1.0, clock=clock)
    writer.on_start("f.bin", 100)
    assert FileMonitor.objects.get(pk=row.pk).updated > before


@pytest.mark.parametrize("change", ["delete", "reassign"])
def test_should_stop_when_row_deleted_or_taken_over(row, change):
    """Deleting the row, or giving it to another task, stops the download."""
    clock = FakeClock()
    writer = ProgressWriter(row.pk, "t1", min_interval=1.0, clock=clock)
    writer.on_start("f.bin", 100)
    assert writer.should_stop() is False
    if change == "delete":
        FileMonitor.objects.filter(pk=row.pk).delete()
    else:
        FileMonitor.objects.filter(pk=row.pk).update(celery_task_id="t2", status="Queued")
    clock.now += 2
    writer.on_progress(10, 100)
    assert writer.should_stop() is True
    assert not FileMonitor.objects.filter(pk=row.pk, celery_task_id="t1").exists()


def test_report_receives_speed(row):
    clock = FakeClock()
    seen = []
    writer = ProgressWriter(
        row.pk, "t1", min_interval=1.0, clock=clock, report=lambda *a: seen.append(a)
    )
    writer.on_start("f.bin", 100)
    clock.now += 2
    writer.on_progress(40, 100)
    assert seen == [(40, 100, 20.0)]
