"""Keeping a FileMonitor row true while its download runs, one column at a time."""

import logging
import time

from django.db import InterfaceError, OperationalError, connections
from django.utils import timezone

from .models import FileMonitor
from .status import DOWNLOADING

logger = logging.getLogger(__name__)

DEFAULT_MIN_INTERVAL = 1.0
#: What a dropped database connection raises (the server restarted, or an admin ended
#: the session): a fresh connection usually works at once.
DB_CONNECTION_ERRORS = (OperationalError, InterfaceError)


class RowGone(Exception):
    """The row was deleted while its download ran: the download must stop."""


def update_reconnecting(queryset, **columns):
    """``queryset.update(**columns)``, once more on a fresh connection if the first fails.

    Django reconnects lazily: after a connection error the broken connection is
    closed, and the retry opens a new one. Inside a transaction nothing can be retried
    (what it did is gone with the connection), so the error is raised as it is; a
    second failure is raised too.
    """
    try:
        return queryset.update(**columns)
    except DB_CONNECTION_ERRORS as exc:
        connection = connections[queryset.db]
        if connection.in_atomic_block:
            raise
        logger.warning("Database write failed (%s); retrying on a new connection", exc)
        connection.close()
        return queryset.update(**columns)


class ProgressWriter:
    """Engine callbacks that write the row at most once per ``min_interval``.

    Every write is a single UPDATE of the columns it owns, so a client's PATCH of
    other fields (tags, say) made during the download survives. Each UPDATE matches
    the row only while it still belongs to ``task_id``: one that matches nothing means
    the row was deleted, cancelled or handed to another task, which
    :meth:`should_stop` reports.

    A dropped database connection costs no download: each write is retried once on a
    new connection; a progress write that still fails is skipped (its columns go out
    with the next write) and the download goes on. Only :meth:`finish`, the outcome,
    raises, so that the task retries instead of losing it.
    """

    def __init__(
        self, pk, task_id, *, min_interval=DEFAULT_MIN_INTERVAL, clock=time.monotonic, report=None
    ):
        self.pk = pk
        self.task_id = task_id
        self.min_interval = min_interval
        self.clock = clock
        self.report = report  # optional callable(done, total, speed), e.g. Celery's state
        self.writes = 0
        self.failed_writes = 0
        self.row_gone = False
        self._last_write = None
        self._last_done = 0
        self._total = None
        self._unsaved = {}  # columns of progress writes that failed, sent with the next one

    def _update(self, **columns):
        self.writes += 1
        # QuerySet.update() skips auto_now; ``updated`` is what stale-row checks read.
        columns["updated"] = timezone.now()
        owned = FileMonitor.objects.filter(pk=self.pk, celery_task_id=self.task_id)
        if not update_reconnecting(owned, **columns):
            self.row_gone = True

    def _write_progress(self, **columns):
        columns = {**self._unsaved, **columns}
        try:
            self._update(**columns)
        except DB_CONNECTION_ERRORS as exc:
            self.failed_writes += 1
            self._unsaved = columns
            logger.warning("Progress of download %s not saved (%s); going on", self.pk, exc)
        else:
            self._unsaved = {}

    def _report(self, done, total, speed):
        if self.report is None:
            return
        try:
            self.report(done, total, speed)
        except Exception as exc:  # the result backend is down: the download goes on
            logger.warning("Progress of download %s not reported (%s)", self.pk, exc)

    def on_start(self, name, total):
        self._total = total
        self._write_progress(name=name, size=total, status=DOWNLOADING, progress=0)
        self._last_write, self._last_done = self.clock(), 0

    def on_progress(self, done, total):
        now = self.clock()
        if self._last_write is not None and now - self._last_write < self.min_interval:
            return
        elapsed = now - self._last_write if self._last_write is not None else 0.0
        speed = (done - self._last_done) / elapsed if elapsed > 0 else 0.0
        self._write_progress(progress=min(done, total) if total else done)
        self._report(done, total, speed)
        self._last_write, self._last_done = now, done

    def should_stop(self):
        return self.row_gone

    def finish(self, **columns):
        """The final write: the outcome's columns, whatever the throttle says.

        :raises OperationalError, InterfaceError: when the database cannot be written
            even on a new connection (the task retries).
        """
        self._update(**{**self._unsaved, **columns})
        self._unsaved = {}
