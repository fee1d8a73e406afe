"""``manage.py downloads``: the FileMonitor rows as a table, newest first."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from filemonitor.models import IN_PROGRESS_STATUSES, FileMonitor
from filemonitor.status import CONNECTION_LOST

from .download import human_bytes

URL_WIDTH = 50
NAME_WIDTH = 30
TAGS_WIDTH = 20
#: ``--status`` words that stand for a group of statuses.
STATUS_GROUPS = {
    "active": Q(status__in=IN_PROGRESS_STATUSES),
    "failed": Q(status__contains="Error") | Q(status=CONNECTION_LOST),
}


def truncate(text, width):
    text = text or ""
    return text if len(text) <= width else text[: width - 3] + "..."


def percent(monitor):
    value = monitor.percent_progress()
    return value if value == "..." else f"{value}%"


class Command(BaseCommand):
    help = "List downloads (newest first): id, status, percent, size, name, tags and URL."

    def add_arguments(self, parser):
        parser.add_argument(
            "--status",
            help="only rows with this status (case-insensitive), or 'active' / 'failed'",
        )
        parser.add_argument("--tags", help="only rows whose tags contain this text")
        parser.add_argument("--limit", type=int, default=20, help="at most this many rows")

    def handle(self, *args, status, tags, limit, **options):
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        rows = FileMonitor.objects.order_by("-id")
        if status:
            rows = rows.filter(STATUS_GROUPS.get(status.lower(), Q(status__iexact=status)))
        if tags:
            rows = rows.filter(tags__icontains=tags)
        total = rows.count()
        table = [("ID", "STATUS", "PERCENT", "SIZE", "NAME", "TAGS", "URL")]
        for monitor in rows[:limit]:
            table.append(
                (
                    str(monitor.pk),
                    monitor.status or "-",
                    percent(monitor),
                    human_bytes(monitor.size),
                    truncate(monitor.name, NAME_WIDTH) or "-",
                    truncate(monitor.tags, TAGS_WIDTH) or "-",
                    truncate(monitor.url, URL_WIDTH),
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
        shown = len(table) - 1
        self.stdout.write(f"{shown} of {total} download{'s' if total != 1 else ''}")
