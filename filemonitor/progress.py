"""Keeping a FileMonitor row true while its download runs, one column at a time."""

import time

from django.utils import timezone

from .models import FileMonitor
from .status import DOWNLOADING

DEFAULT_MIN_INTERVAL = 1.0


class RowGone(Exception):
    """The row was deleted while its download ran: the download must stop."""


class ProgressWriter:
    """Engine callbacks that write the row at most once per ``min_interval``.

    Every write is a single UPDATE of the columns it owns, so a client's PATCH of
    other fields (tags, say) made during the download survives. Each UPDATE matches
    the row only while it still belongs to ``task_id``: one that matches nothing means
    the row was deleted, cancelled or handed to another task, which
    :meth:`should_stop` reports.
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
        self.row_gone = False
        self._last_write = None
        self._last_done = 0
        self._total = None

    def _update(self, **columns):
        self.writes += 1
        # QuerySet.update() skips auto_now; ``updated`` is what stale-row checks read.
        columns["updated"] = timezone.now()
        owned = FileMonitor.objects.filter(pk=self.pk, celery_task_id=self.task_id)
        if not owned.update(**columns):
            self.row_gone = True

    def on_start(self, name, total):
        self._total = total
        self._update(name=name, size=total, status=DOWNLOADING, progress=0)
        self._last_write, self._last_done = self.clock(), 0

    def on_progress(self, done, total):
        now = self.clock()
        if self._last_write is not None and now - self._last_write < self.min_interval:
            return
        elapsed = now - self._last_write if self._last_write is not None else 0.0
        speed = (done - self._last_done) / elapsed if elapsed > 0 else 0.0
        self._update(progress=min(done, total) if total else done)
        if self.report is not None:
            self.report(done, total, speed)
        self._last_write, self._last_done = now, done

    def should_stop(self):
        return self.row_gone

    def finish(self, **columns):
        """The final write: the outcome's columns, whatever the throttle says."""
        self._update(**columns)
