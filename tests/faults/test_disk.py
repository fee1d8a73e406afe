"""A full disk, and a download root that cannot be written.

A worker downloads into a tmpfs of 8 MiB mounted for the test (as root; skipped, loudly,
where mounting is not permitted). A download bigger than the disk fails with
"Error: disk write failed" and leaves nothing, while a small one beside it completes;
a read-only root is "Error: download root not writable", and the worker goes on.
"""

import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from filemonitor.models import FileMonitor
from filemonitor.status import ROOT_NOT_WRITABLE
from filemonitor.tasks import download_something
from tests.conftest import API

from .conftest import (
    FaultWorker,
    MiB,
    assert_failed_and_clean,
    poll,
    post_download,
    row,
    wait_final,
)

DISK_SIZE = 8 * MiB


def _mount(*args):
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def small_disk():
    """A fresh tmpfs of DISK_SIZE bytes; unmounted at the end whatever happens."""
    point = Path(settings.FILEMONITOR_ROOT).parent / "small-disk"
    point.mkdir(parents=True, exist_ok=True)
    mounted = _mount("-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755", "tmpfs", str(point))
    if mounted.returncode != 0:
        point.rmdir()
        pytest.skip(
            "!!! DISK-FULL AND READ-ONLY ROOT TESTS SKIPPED: cannot mount a tmpfs here "
            f"(needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}"
        )
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=False)
        if subprocess.run(["mountpoint", "-q", str(point)]).returncode == 0:
            subprocess.run(["umount", "-l", str(point)], check=False)
        point.rmdir()


@pytest.fixture(scope="module")
def disk_worker(small_disk):
    # A read timeout longer than the test's stall: the stall ends when the test says so.
    # The big download (32 MiB) is written with O_DIRECT, the small one through the page
    # cache: the full disk must be reported the same way on both paths.
    env = {
        "FILEMONITOR_ROOT": str(small_disk),
        "FILEMONITOR_READ_TIMEOUT": "120",
        "FILEMONITOR_DIRECT_WRITE_MIN_SIZE": str(MiB),
    }
    with FaultWorker("small-disk", concurrency=2, env=env) as worker:
        yield worker


def part_bytes(disk, pk):
    """Bytes in the .part files of row ``pk`` on ``disk``."""
    return sum(path.stat().st_size for path in disk.glob(f"{pk}-*/*.part"))


def row_folders_on(disk, pk):
    return sorted(path.name for path in disk.glob(f"{pk}-*"))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_disk_full_fails_clearly_and_spares_the_download_beside_it(
    client, admin_auth, fault_server, route_downloads, small_disk, disk_worker
):
    route_downloads(disk_worker.queue)
    # The big one holds 4 MiB of the disk and waits (a stalled source) while the small
    # one runs; then the rest of it comes and fills the disk.
    big = fault_server.add(
        "/disk/big.bin", size=4 * DISK_SIZE, seed=81, stall_after=4 * MiB, stall_times=1
    )
    small = fault_server.add("/disk/small.bin", size=MiB // 2, seed=82)
    big_pk = post_download(client, admin_auth, fault_server.url("/disk/big.bin"))
    poll(
        lambda: part_bytes(small_disk, big_pk) >= 4 * MiB,
        timeout=60, message="the big download to reach the stall",
    )  # fmt: skip
    small_pk = post_download(client, admin_auth, fault_server.url("/disk/small.bin"))
    assert wait_final(small_pk, worker=disk_worker).status == "Complete"
    assert row(big_pk).status == "Downloading"
    big.release.set()
    assert wait_final(big_pk, worker=disk_worker).status == "Error: disk write failed"

    assert_failed_and_clean(big_pk, "Error: disk write failed")
    assert row_folders_on(small_disk, big_pk) == [], "the partial file is removed"
    small_row = row(small_pk)
    assert Path(small_row.local_dir).parent == small_disk
    assert small_row.md5sum == small.md5
    assert sorted(p.name for p in Path(small_row.local_dir).iterdir()) == ["small.bin"]
    assert [p.name for p in small_disk.iterdir()] == [Path(small_row.local_dir).name]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_read_only_root_is_a_clear_status_and_the_worker_goes_on(
    client, admin_auth, fault_server, route_downloads, small_disk, disk_worker
):
    route_downloads(disk_worker.queue)
    resource = fault_server.add("/disk/later.bin", size=MiB, seed=83)
    assert _mount("-o", "remount,ro", str(small_disk)).returncode == 0
    try:
        pk = post_download(client, admin_auth, fault_server.url("/disk/later.bin"))
        assert wait_final(pk, worker=disk_worker).status == ROOT_NOT_WRITABLE
        assert_failed_and_clean(pk, ROOT_NOT_WRITABLE)
    finally:
        assert _mount("-o", "remount,rw", str(small_disk)).returncode == 0
    # The same worker, once the root is writable again, downloads the retried row.
    disk_worker.wait_ready(timeout=10)
    response = client.post(f"{API}{pk}/download/", **admin_auth)
    assert response.status_code in (200, 201, 202, 204), response.content
    assert wait_final(pk, worker=disk_worker).status == "Complete"
    assert row(pk).md5sum == resource.md5


@pytest.mark.django_db
def test_root_that_cannot_be_created_is_a_clear_status(settings, tmp_path):
    """The task itself (run eagerly): a root under a regular file cannot be made."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.FILEMONITOR_ROOT = blocker / "downloads"
    monitor = FileMonitor.objects.create(
        url="http://127.0.0.1:9/never.bin", status="Queued", celery_task_id="t-root"
    )
    result = download_something.apply(
        kwargs={"url": monitor.url, "download_monitor_pk": monitor.pk}, task_id="t-root"
    ).get()
    assert result == [None, monitor.pk] or result == (None, monitor.pk)
    monitor.refresh_from_db()
    assert (monitor.status, monitor.local_dir) == (ROOT_NOT_WRITABLE, "")
