"""The task keeps the original's contract for Python callers and dashboards."""

import json
from pathlib import Path

import pytest
from celery import group
from celery.result import AsyncResult

from filemonitor.models import FileMonitor
from filemonitor.tasks import download_something
from tests.conftest import API, poll

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024


def test_group_of_legacy_calls_returns_path_and_row_id(celery_worker, file_server):
    """Called without a row, as old callers did: a row is made; results chain as before."""
    first = file_server.add("/contract/a.bin", size=MiB, seed=21)
    file_server.add("/contract/missing.bin", statuses=[404])
    results = group(
        download_something.s(file_server.url("/contract/a.bin")),
        download_something.s(file_server.url("/contract/missing.bin")),
    ).apply_async()
    (path, pk), (no_path, failed_pk) = results.get(timeout=60)

    row = FileMonitor.objects.get(pk=pk)
    assert (row.status, row.md5sum, row.full_path()) == ("Complete", first.md5, path)
    assert no_path is None
    assert FileMonitor.objects.get(pk=failed_pk).status == "HTTP Error: Not Found"


def test_running_download_reports_progress_state(client, admin_auth, celery_worker, file_server):
    """Flower and celery-progress clients see PROGRESS with bytes done, total and speed."""
    file_server.add("/contract/slow.bin", size=6 * MiB, seed=22, throttle=2 * MiB)
    response = client.post(
        API,
        data=json.dumps({"url": file_server.url("/contract/slow.bin")}),
        content_type="application/json",
        **admin_auth,
    )
    task_id = FileMonitor.objects.get(url=file_server.url("/contract/slow.bin")).celery_task_id
    assert response.status_code == 201

    def progress_state():
        result = AsyncResult(task_id)
        return result.state == "PROGRESS" and result.info

    info = poll(progress_state, message="the task to report PROGRESS")
    assert 0 < info["current"] <= info["total"] == 6 * MiB
    assert info["speed"] >= 0 and info["monitor_id"] > 0
    assert AsyncResult(task_id).get(timeout=60)[0].endswith("slow.bin")


def test_list_delete_cancels_running_downloads(client, admin_auth, celery_worker, file_server):
    """DELETE on a filtered list stops those downloads and removes their folders."""
    file_server.add("/contract/list-a.bin", size=64 * MiB, seed=23, throttle=MiB)
    for _ in range(2):
        client.post(
            API,
            data=json.dumps({"url": file_server.url("/contract/list-a.bin"), "tags": "gone"}),
            content_type="application/json",
            **admin_auth,
        )
    rows = poll(
        lambda: (
            (rows := list(FileMonitor.objects.filter(tags="gone", progress__gt=0)))
            and len(rows) == 2
            and rows
        ),
        message="both downloads to make progress",
    )
    assert client.delete(f"{API}?tags=gone", **admin_auth).status_code == 204
    poll(lambda: not any(Path(row.local_dir).exists() for row in rows), message="folders removed")
    poll(
        lambda: file_server.open_connections("/contract/list-a.bin") == 0,
        message="the worker to stop reading",
    )
    assert not FileMonitor.objects.filter(tags="gone").exists()


def test_finished_task_delivered_again_does_not_download_again(celery_worker, file_server):
    """A message redelivered after Complete returns the file without fetching it again."""
    file_server.add("/contract/once.bin", size=MiB, seed=24)
    url = file_server.url("/contract/once.bin")
    row = FileMonitor.objects.create(url=url)
    first = download_something.apply_async(kwargs={"url": url, "download_monitor_pk": row.pk})
    path, pk = first.get(timeout=60)
    first.forget()  # so that the next get() waits for the second delivery's own result
    again = download_something.apply_async(
        kwargs={"url": url, "download_monitor_pk": row.pk}, task_id=first.id
    )
    assert again.get(timeout=60) == [path, pk]
    assert file_server.count("/contract/once.bin") == 1
    assert FileMonitor.objects.get(pk=pk).status == "Complete"
