"""What the API asks of downloads: queue, re-queue, cancel and clean up."""

import logging
import uuid

from django.db import transaction
from django.utils import timezone
from tastypie.exceptions import BadRequest

from .models import IN_PROGRESS_STATUSES, FileMonitor
from .paths import remove_download_dir
from .status import CANCELLED, QUEUED, can_requeue
from .validation import check_download_url

logger = logging.getLogger(__name__)


def queue_download(monitor, auth=None):
    """Mark ``monitor`` Queued with a fresh task id and send its task once committed.

    The id is chosen here and saved on the row before the message exists, so a
    download can be revoked even while it waits in the queue.
    """
    from .tasks import download_something

    check_download_url(monitor.url)
    task_id = str(uuid.uuid4())
    FileMonitor.objects.filter(pk=monitor.pk).update(
        status=QUEUED, celery_task_id=task_id, progress=0, updated=timezone.now()
    )
    monitor.status, monitor.celery_task_id, monitor.progress = QUEUED, task_id, 0
    transaction.on_commit(
        lambda: download_something.apply_async(
            kwargs={"url": monitor.url, "download_monitor_pk": monitor.pk, "auth": auth},
            task_id=task_id,
        )
    )
    return task_id


def requeue_download(monitor):
    """Queue a failed or cancelled download again; refuse one that is running or done."""
    if not can_requeue(monitor.status):
        raise BadRequest(
            f"Only a failed or cancelled download can be queued again, not {monitor.status!r}."
        )
    remove_download_dir(monitor.local_dir)
    FileMonitor.objects.filter(pk=monitor.pk).update(local_dir="", size=None)
    monitor.local_dir, monitor.size = "", None
    return queue_download(monitor)


def cancel_task(task_id):
    """Revoke a queued or running download task (the running one notices its row is gone)."""
    if not task_id:
        return
    from rundb.celery import app

    try:
        app.control.revoke(task_id)
    except Exception:  # a broker outage must not make a DELETE fail
        logger.warning("Could not revoke task %s; the worker will notice the row is gone", task_id)


def cancel_download(monitor):
    """Stop a queued or running download but keep its row, marked ``Error: cancelled``.

    The row gives up its task id (so the running task's next progress write, which
    matches on its own task id, finds the row no longer its own and stops) and the
    task is revoked once this commits. The stopping task removes its partial folder;
    ``local_dir`` stays recorded so that a retry or a delete removes whatever is left
    (a worker that died, say). Returns False, changing nothing, when the download is
    not in progress (any more): one that completed meanwhile stays Complete.
    """
    task_id = monitor.celery_task_id
    cancelled = FileMonitor.objects.filter(
        pk=monitor.pk, status__in=IN_PROGRESS_STATUSES, celery_task_id=task_id
    ).update(status=CANCELLED, celery_task_id="", updated=timezone.now())
    if not cancelled:
        return False
    monitor.status, monitor.celery_task_id = CANCELLED, ""
    transaction.on_commit(lambda: cancel_task(task_id))
    return True


def delete_monitor(monitor):
    """Delete the row, stop its download and remove its folder (only inside the root)."""
    task_id, local_dir = monitor.celery_task_id, monitor.local_dir
    monitor.delete()
    if monitor.in_progress():
        cancel_task(task_id)
    transaction.on_commit(lambda: remove_download_dir(local_dir))
