"""Which task owns a row and its folder: exactly one at a time, even on redelivery."""

import contextlib
import fcntl
import os

from django.db.models import Q
from django.utils import timezone

from .models import IN_PROGRESS_STATUSES, FileMonitor
from .paths import download_root, is_inside_root, new_download_dir
from .status import COMPLETE, QUEUED, STARTING


class DownloadBusy(Exception):
    """Another live process holds this download's folder (a duplicate delivery)."""


def claim_monitor(task_id, url, pk):
    """Mark the row Starting for ``task_id`` and return it, or None when it is not ours.

    A deleted row is never re-created, a row queued again under a newer task id is
    left to that task, and a cancelled or finished row is never restarted by a stale
    message. Rows with no task id yet (legacy callers create the row, then send the
    task) are free while new or Queued. Callers that pass no pk get a fresh row.
    """
    if pk is None:
        return FileMonitor.objects.create(url=url, status=STARTING, celery_task_id=task_id)
    # A repeated delivery of a finished task's message must not download it again.
    ours = Q(celery_task_id=task_id, status__in=IN_PROGRESS_STATUSES) | Q(
        celery_task_id="", status__in=("", QUEUED)
    )
    claimed = FileMonitor.objects.filter(ours, pk=pk).update(
        status=STARTING, celery_task_id=task_id, updated=timezone.now()
    )
    return FileMonitor.objects.filter(pk=pk).first() if claimed else None


def finished_download(task_id, pk):
    """The row ``task_id`` already completed (a message delivered twice), or None."""
    if pk is None:
        return None
    return FileMonitor.objects.filter(pk=pk, celery_task_id=task_id, status=COMPLETE).first()


def _download_dir_for(monitor, parent):
    """The row's folder when it already has one (resume), else a fresh one, recorded."""
    if monitor.local_dir and is_inside_root(monitor.local_dir) and os.path.isdir(monitor.local_dir):
        return monitor.local_dir
    if parent is None or not is_inside_root(parent) or not os.path.isdir(parent):
        parent = download_root()
    path = new_download_dir(f"{monitor.pk}", parent)
    # Only one of two racing deliveries records its folder; the other uses the winner's.
    if not FileMonitor.objects.filter(pk=monitor.pk, local_dir=monitor.local_dir).update(
        local_dir=path
    ):
        os.rmdir(path)
        monitor.refresh_from_db(fields=["local_dir"])
        return monitor.local_dir
    monitor.local_dir = path
    return path


@contextlib.contextmanager
def locked_download_dir(monitor, parent=None):
    """Yield the row's download folder while holding an exclusive lock on it.

    The lock is an ``flock`` on the folder itself: the kernel drops it when the
    holder dies (even by SIGKILL), so a redelivered task can take over at once.

    :raises DownloadBusy: when another live process holds the folder.
    """
    path = _download_dir_for(monitor, parent)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DownloadBusy(path) from None
        yield path
    finally:
        os.close(fd)
