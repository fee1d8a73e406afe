"""``manage.py recover_stale``: the stale-row sweep Celery beat runs every minute, by hand."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from filemonitor.stale import find_stale_rows, recover_stale_rows


class Command(BaseCommand):
    help = (
        "Queue again the downloads left in progress by a worker that vanished (no progress "
        "for FILEMONITOR_STALE_AFTER seconds and no worker holding their task), or mark them "
        "'Error: stalled' after FILEMONITOR_STALE_MAX_REQUEUES tries. Needs a running worker."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=float,
            help="seconds without progress (default: FILEMONITOR_STALE_AFTER)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="only list the rows that have not moved for that long; change nothing",
        )

    def handle(self, *args, stale_after, dry_run, **options):
        if dry_run:
            now = timezone.now()
            rows = find_stale_rows(stale_after, now=now)
            for row in rows:
                idle = int((now - row.updated).total_seconds())
                self.stdout.write(
                    f"{row.pk}\t{row.status}\tno progress for {idle}s\ttask {row.celery_task_id}"
                )
            self.stdout.write(f"{len(rows)} download(s) without progress for that long")
            return
        recovery = recover_stale_rows(stale_after=stale_after)
        if recovery.no_reply:
            raise CommandError("No worker answered: nothing done (start a worker, then run again).")
        for label, pks in (
            ("Queued again", recovery.requeued),
            ("Marked 'Error: stalled'", recovery.failed),
            ("Still held by a worker", recovery.alive),
            ("Left waiting in the queue", recovery.waiting),
        ):
            if pks:
                self.stdout.write(f"{label}: {', '.join(map(str, pks))}")
        if not (recovery.requeued or recovery.failed or recovery.alive or recovery.waiting):
            self.stdout.write("Nothing stale.")
