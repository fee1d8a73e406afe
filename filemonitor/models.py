"""The FileMonitor table, field for field as Torrent Suite's."""

import os

from django.db import models

#: Statuses of a download that is queued or running.
IN_PROGRESS_STATUSES = ("Queued", "Starting", "Downloading")


class FileMonitor(models.Model):
    """One file downloaded (or being downloaded) into ``local_dir/name``."""

    url = models.CharField(max_length=2000)
    local_dir = models.CharField(max_length=512, default="")
    name = models.CharField(max_length=255, default="")
    size = models.BigIntegerField(null=True, default=None)
    progress = models.BigIntegerField(default=0)
    status = models.CharField(max_length=60, default="")
    celery_task_id = models.CharField(max_length=60, default="", blank=True)
    md5sum = models.CharField(max_length=32, null=True, blank=True, default=None)
    tags = models.CharField(max_length=1024, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # What clients filter and sort on: the UI's ?url=..., tags, status, newest.
            models.Index(fields=["tags"], name="filemonitor_tags_idx"),
            models.Index(fields=["status"], name="filemonitor_status_idx"),
            models.Index(fields=["url"], name="filemonitor_url_idx"),
            models.Index(fields=["created"], name="filemonitor_created_idx"),
        ]

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # What the row held when read: a write checks local_dir again only if it changes.
        instance.stored_local_dir = instance.__dict__.get("local_dir")
        return instance

    def __str__(self):
        return f"{self.name or self.url} ({self.status or 'new'})"

    def percent_progress(self):
        """Progress as ``"12.3"`` percent, or ``"..."`` while the size is unknown."""
        if not self.size:
            return "..."
        return f"{100.0 * self.progress / self.size:.1f}"

    def full_path(self):
        """Where the file is (or will be) on disk."""
        return os.path.join(self.local_dir, self.name)

    def in_progress(self):
        return self.status in IN_PROGRESS_STATUSES


class RowCount(models.Model):
    """How many rows a table holds, kept exact by triggers in the database (rowcount.py).

    An unfiltered list's total_count reads it instead of COUNT(*), which must visit
    every row (about 60 ms at a million rows on PostgreSQL).
    """

    table = models.CharField(max_length=63, primary_key=True)
    total = models.BigIntegerField()

    def __str__(self):
        return f"{self.table}: {self.total} rows"
