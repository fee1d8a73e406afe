"""Stale rows: downloads shown in progress that no worker is working on any more.

A worker that vanishes whole (SIGKILL of its main process, the OOM killer, a machine
or container restart) leaves its row ``Starting`` or ``Downloading`` for good unless
its message comes back: on kombu's filesystem broker it never does (a message is
deleted from the queue folder when a worker takes it), on Redis only after the
visibility timeout. A Redis that keeps nothing on disk also loses, on a restart, the
messages still waiting in the queue, and their rows stay ``Queued``.

A row is *stale* when it is Queued, Starting or Downloading, its ``updated`` has not
moved for ``FILEMONITOR_STALE_AFTER`` seconds (a running download writes it every
``FILEMONITOR_PROGRESS_INTERVAL``), and no worker holds its task: none has it active,
reserved or waiting for an ETA. :func:`recover_stale_rows` queues such a row again
under a new task id, keeping its folder, so the new task resumes from the ``.part``.

Never blindly:

- when no worker answers the inspection, nothing is done (a broker outage, or workers
  too busy to answer, look the same as no worker at all);
- a ``Queued`` row counts as lost only while the broker's queue is empty; otherwise its
  message may simply be waiting its turn;
- every change is a compare-and-set on (status, task id, ``updated``): a row that its
  task claimed, or a client cancelled, since it was read is left alone; and a message
  of the old task id that turns up later finds the row no longer its own
  (``claims.claim_monitor``) and does nothing. At most one task ever runs the download.

How many times: the model is a fixed contract (no column to count in), so the count
lives in the task id the sweep gives the row, ``<uuid4>-stale<n>``. Queueing by any
other way (POST, retry) gives a plain uuid and starts the count again. A row found
stale again after ``FILEMONITOR_STALE_MAX_REQUEUES`` re-queues in a row is marked
``Error: stalled`` and its folder removed, as any failure; a retry starts it afresh.
"""

import logging
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import ChannelError

from .models import IN_PROGRESS_STATUSES, FileMonitor
from .paths import remove_download_dir
from .status import QUEUED, STALLED

logger = logging.getLogger(__name__)

#: Seconds to wait for the workers' answers to the inspection.
INSPECT_TIMEOUT = 1.0
_REQUEUE_SUFFIX = re.compile(r"-stale(\d+)$")


def requeue_count(task_id):
    """How many times in a row the sweep has queued the row that has ``task_id``."""
    match = _REQUEUE_SUFFIX.search(task_id or "")
    return int(match.group(1)) if match else 0


def requeue_task_id(count):
    """A fresh task id that records ``count`` re-queues."""
    return f"{uuid.uuid4()}-stale{count}"


def find_stale_rows(stale_after=None, now=None):
    """Rows in progress whose ``updated`` is older than ``stale_after`` seconds, oldest id first.

    Only the time is checked here; :func:`recover_stale_rows` asks the workers too.
    """
    if stale_after is None:
        stale_after = settings.FILEMONITOR_STALE_AFTER
    cutoff = (now or timezone.now()) - timedelta(seconds=stale_after)
    rows = FileMonitor.objects.filter(status__in=IN_PROGRESS_STATUSES, updated__lt=cutoff)
    return list(rows.order_by("pk"))


def live_task_ids(app, task_ids, timeout=INSPECT_TIMEOUT):
    """Which of ``task_ids`` a worker holds (active, reserved or scheduled).

    None when no worker answered (or the broker could not be reached).
    """
    try:
        replies = app.control.inspect(timeout=timeout).query_task(*task_ids)
    except Exception as exc:  # the broker is unreachable
        logger.warning("Could not ask the workers which tasks they hold: %s", exc)
        return None
    if not replies:
        return None
    return {task_id for reply in replies.values() for task_id in reply or {}}


def broker_queue_depth(app, queue=None):
    """How many messages wait in ``queue`` (the download queue by default); None when
    the broker cannot say."""
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1)
            declared = connection.default_channel.queue_declare(
                queue=queue or app.conf.task_default_queue, passive=True
            )
            return declared.message_count
    except ChannelError:  # no such queue: Redis drops a list once it is empty
        return 0
    except Exception as exc:
        logger.warning("Could not read the length of the download queue: %s", exc)
        return None


@dataclass
class Recovery:
    """What one sweep did, by row id."""

    requeued: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    #: stale by the clock, but a worker holds the task (a very slow download, say)
    alive: list = field(default_factory=list)
    #: Queued rows left alone because messages still wait in the queue
    waiting: list = field(default_factory=list)
    #: no worker answered: nothing was done
    no_reply: bool = False

    def as_dict(self):
        return asdict(self)


def recover_stale_rows(*, stale_after=None, max_requeues=None, inspect_timeout=INSPECT_TIMEOUT):
    """Queue again (or mark ``Error: stalled``) every stale row; return a :class:`Recovery`."""
    from .tasks import download_something

    if max_requeues is None:
        max_requeues = settings.FILEMONITOR_STALE_MAX_REQUEUES
    recovery = Recovery()
    rows = find_stale_rows(stale_after)
    if not rows:
        return recovery
    app = download_something.app
    # The queue first, then the workers: a message that leaves the queue in between is
    # then seen in a worker, never missed by both looks.
    depth = broker_queue_depth(app) if any(row.status == QUEUED for row in rows) else 0
    live = live_task_ids(app, [row.celery_task_id for row in rows if row.celery_task_id])
    if live is None:
        recovery.no_reply = True
        logger.warning("%s download(s) look stale but no worker answered: nothing done", len(rows))
        return recovery
    for row in rows:
        if row.celery_task_id and row.celery_task_id in live:
            recovery.alive.append(row.pk)
        elif row.status == QUEUED and depth != 0:
            recovery.waiting.append(row.pk)
        elif requeue_count(row.celery_task_id) >= max_requeues:
            if _mark_stalled(row):
                recovery.failed.append(row.pk)
        elif _requeue(row, download_something):
            recovery.requeued.append(row.pk)
    return recovery


def _unchanged(row):
    """The row, only if nobody has touched it since it was read."""
    return FileMonitor.objects.filter(
        pk=row.pk, status=row.status, celery_task_id=row.celery_task_id, updated=row.updated
    )


def _requeue(row, task):
    count = requeue_count(row.celery_task_id) + 1
    task_id = requeue_task_id(count)
    with transaction.atomic():
        if not _unchanged(row).update(
            status=QUEUED, celery_task_id=task_id, progress=0, updated=timezone.now()
        ):
            return False
        transaction.on_commit(
            lambda: task.apply_async(
                kwargs={"url": row.url, "download_monitor_pk": row.pk}, task_id=task_id
            )
        )
    logger.warning(
        "Download %s was stale (%s since %s, task %s held by no worker): queued again (%s)",
        row.pk, row.status, row.updated.isoformat(), row.celery_task_id or "-", task_id,
    )  # fmt: skip
    return True


def _mark_stalled(row):
    # The task id goes too: a late message of it must not start the download again.
    with transaction.atomic():
        if not _unchanged(row).update(
            status=STALLED, celery_task_id="", local_dir="", updated=timezone.now()
        ):
            return False
        transaction.on_commit(lambda: remove_download_dir(row.local_dir))
    logger.warning(
        "Download %s was stale again after %s re-queues: marked %r",
        row.pk, requeue_count(row.celery_task_id), STALLED,
    )  # fmt: skip
    return True
