"""SIGKILL mid-download: of the pool process holding it, again and again; of the whole worker.

A pool process that dies is noticed by its worker, which hands the message back
(``reject_on_worker_lost``): the download resumes from its ``.part`` at once. A worker
that dies whole takes the message with it. Redis gives it back after the visibility
timeout; the filesystem broker deleted it from its queue folder when the worker took
it, so only the stale-row sweep (filemonitor/stale.py) brings the download back.
"""

import os
import signal
from functools import partial
from pathlib import Path

import pytest
from django.conf import settings

from filemonitor.stale import recover_stale_rows

from .conftest import (
    FaultWorker,
    MiB,
    assert_complete_and_clean,
    broker_is_redis,
    poll,
    post_download,
    range_starts,
    row,
    wait_final,
    wait_progress,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def resumed_past(server, path, pk, *, deliveries, at_least):
    """Wait until delivery number ``deliveries`` has requested the file and written
    progress of at least ``at_least`` bytes (not the value a killed one left); its folder."""
    return poll(
        lambda: (current := row(pk)) and current.status == "Downloading"
        and server.count(path) >= deliveries and current.progress >= at_least
        and current.local_dir,
        timeout=60, interval=0.05, message=f"row {pk} to pass {at_least} bytes",
    )  # fmt: skip


def gone(pid):
    """True once ``pid`` has no open files any more (dead, or a zombie)."""
    try:
        return not os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return True


def kill_pool_process_repeatedly(
    client, admin_auth, server, route_downloads, *, points, size, seconds
):
    """Kill the pool process holding a ``seconds``-long download as it passes each point."""
    path = f"/kill/pool-{len(points)}.bin"
    resource = server.add(path, size=size, seed=51 + len(points), throttle=size // seconds)
    killed = []
    with FaultWorker(f"kill-pool-{len(points)}", concurrency=1) as worker:
        route_downloads(worker.queue)
        pk = post_download(client, admin_auth, server.url(path))
        reached = -1
        for point in points:
            at_least = max(int(size * point), reached + 1)
            folder = resumed_past(server, path, pk, deliveries=len(killed) + 1, at_least=at_least)
            pid = worker.process_holding(folder, exclude=killed)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            poll(partial(gone, pid), message=f"killed process {pid} to be gone")
            reached = row(pk).progress
        wait_final(pk, worker=worker)
    assert len(set(killed)) == len(points)
    assert_complete_and_clean(pk, resource, Path(path).name)
    # Every redelivery resumed where the killed process stopped, none started over.
    starts = range_starts(server, path)
    assert starts[0] == 0 and len(starts) == len(points) + 1, starts
    assert all(start > 0 for start in starts[1:]), starts
    assert starts == sorted(starts)


def test_pool_process_killed_three_times_mid_download(
    client, admin_auth, fault_server, route_downloads
):
    """Killed at about 20%, 45% and 70%: resumed each time, Complete with the right md5."""
    kill_pool_process_repeatedly(
        client,
        admin_auth,
        fault_server,
        route_downloads,
        points=(0.2, 0.45, 0.7),
        size=24 * MiB,
        seconds=4,
    )


@pytest.mark.soak
def test_pool_process_killed_ten_times_mid_download(
    client, admin_auth, fault_server, route_downloads
):
    points = tuple(round(0.05 + 0.09 * n, 2) for n in range(10))  # 5% ... 86%
    kill_pool_process_repeatedly(
        client, admin_auth, fault_server, route_downloads, points=points, size=64 * MiB, seconds=12
    )


def queued_messages_naming(task_id):
    """Messages of the filesystem broker's queue folder that mention ``task_id``."""
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    return [path for path in folder.iterdir() if task_id in path.read_text(errors="replace")]


def test_whole_worker_killed_then_a_new_worker_finishes(
    client, admin_auth, fault_server, route_downloads
):
    """SIGKILL of the main process and its children; a new worker takes over.

    Redis: the unacked message comes back after the visibility timeout (5 s for the new
    worker). Filesystem broker: the message died with the worker; the stale sweep
    queues the row again and the new worker resumes it.
    """
    size = 16 * MiB
    resource = fault_server.add("/kill/whole.bin", size=size, seed=61, throttle=4 * MiB)
    first = FaultWorker("kill-whole-a", concurrency=1)
    with first:
        route_downloads(first.queue)
        pk = post_download(client, admin_auth, fault_server.url("/kill/whole.bin"))
        wait_progress(pk, at_least=size // 4)
        first.kill_all()
    left = row(pk)
    assert left.status == "Downloading", "nobody is left to change the row"
    resource.throttle = None  # what remains comes fast: the test need not wait for it
    second = FaultWorker(
        "kill-whole-b", concurrency=1, queue=first.queue, env={"CELERY_VISIBILITY_TIMEOUT": "5"}
    )
    with second:
        if broker_is_redis():
            recovered_by = "redelivery"
        else:
            assert queued_messages_naming(left.celery_task_id) == [], "the message is not lost?"
            # Asked again only if no worker answered in time (nothing was done then).
            recovery = poll(
                lambda: None if (sweep := recover_stale_rows(stale_after=0)).no_reply else sweep,
                timeout=30, message="a worker to answer the sweep",
            )  # fmt: skip
            assert recovery.requeued == [pk], recovery
            recovered_by = "stale sweep"
        final = wait_final(pk, worker=second)
    assert final.status == "Complete", (recovered_by, final.status)
    assert_complete_and_clean(pk, resource, "whole.bin")
    starts = range_starts(fault_server, "/kill/whole.bin")
    assert len(starts) == 2 and starts[1] >= size // 4, starts
    assert final.local_dir == left.local_dir, "the .part in the row's folder was resumed"
    if recovered_by == "stale sweep":
        assert final.celery_task_id.endswith("-stale1")
    else:
        assert final.celery_task_id == left.celery_task_id
