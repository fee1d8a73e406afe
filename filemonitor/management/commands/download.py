"""``manage.py download URL``: queue a download, and with ``--wait`` follow it to the end."""

import time
from collections import deque

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tastypie.exceptions import BadRequest

from filemonitor.downloads import queue_download
from filemonitor.engine.naming import split_credentials
from filemonitor.models import FileMonitor
from filemonitor.status import COMPLETE, DOWNLOADING, is_failure
from filemonitor.validation import check_download_url, clean_monitor

BAR_WIDTH = 24
#: Seconds of samples the speed is averaged over.
SPEED_WINDOW = 5.0


def human_bytes(count):
    """``1536`` -> ``"1.5 KiB"``; ``None`` -> ``"?"``."""
    if count is None:
        return "?"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds):
    """``75`` -> ``"1:15"``, ``3700`` -> ``"1:01:40"``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class ProgressDisplay:
    """One line of progress: status, bar, bytes, speed and ETA.

    On a terminal the line is redrawn in place (``\\r``) at every :meth:`show`; on
    anything else (a log file, a pipe) a new line is written at most once per
    ``line_interval`` seconds, and whenever the status changes.
    """

    def __init__(self, out, *, tty, clock=time.monotonic, line_interval=1.0):
        self.out = out
        self.tty = tty
        self.clock = clock
        self.line_interval = line_interval
        self._samples = deque()  # (time, progress)
        self._last_line_at = None
        self._last_status = None
        self._width = 0

    def speed(self):
        """Bytes per second over the last SPEED_WINDOW seconds (0 until two samples)."""
        if len(self._samples) < 2:
            return 0.0
        (t0, p0), (t1, p1) = self._samples[0], self._samples[-1]
        return max(0.0, (p1 - p0) / (t1 - t0)) if t1 > t0 else 0.0

    def render(self, status, progress, size):
        parts = [f"{status or 'new':<11}"]
        if size:
            fraction = min(1.0, progress / size)
            filled = int(fraction * BAR_WIDTH)
            parts.append(f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {100 * fraction:5.1f}%")
            parts.append(f"{human_bytes(progress)} / {human_bytes(size)}")
        else:
            parts.append(human_bytes(progress))
        if status == DOWNLOADING:
            speed = self.speed()
            parts.append(f"{human_bytes(speed)}/s")
            if size and speed > 0 and progress < size:
                parts.append(f"ETA {human_duration((size - progress) / speed)}")
            else:
                parts.append("ETA --:--")
        return "  ".join(parts)

    def show(self, status, progress, size):
        now = self.clock()
        if status != self._last_status:
            self._samples.clear()
        self._samples.append((now, progress))
        while self._samples and now - self._samples[0][0] > SPEED_WINDOW:
            self._samples.popleft()
        line = self.render(status, progress, size)
        if self.tty:
            # Pad with spaces so a shorter line wipes the end of a longer one.
            self.out.write("\r" + line.ljust(self._width), ending="")
            self._width = max(self._width, len(line))
            self.out.flush()
        elif (
            status != self._last_status
            or self._last_line_at is None
            or now - self._last_line_at >= self.line_interval
        ):
            self.out.write(line)
            self._last_line_at = now
        self._last_status = status

    def close(self):
        """End a redrawn line so that what follows starts on a line of its own."""
        if self.tty and self._width:
            self.out.write("")
            self._width = 0


def follow(pk, display, *, interval, sleep=time.sleep):
    """Show the row's progress until it is Complete (returned) or fails (CommandError)."""
    while True:
        monitor = FileMonitor.objects.filter(pk=pk).first()
        if monitor is None:
            display.close()
            raise CommandError(f"Download {pk} was deleted.")
        display.show(monitor.status, monitor.progress, monitor.size)
        if monitor.status == COMPLETE:
            display.close()
            return monitor
        if is_failure(monitor.status):
            display.close()
            raise CommandError(monitor.status)
        sleep(interval)


class Command(BaseCommand):
    help = (
        "Queue a download of URL (as a POST to the API does) and print the new row's id. "
        "With --wait, follow it with a progress bar; exit 0 when Complete, non-zero with "
        "the status when it fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("url", help="http:// or https:// URL to download")
        parser.add_argument("--name", default="", help="file name (default: from the server)")
        parser.add_argument("--tags", default="", help="tags, e.g. reference")
        parser.add_argument("--md5", default=None, help="expected md5sum, checked at the end")
        parser.add_argument("--wait", action="store_true", help="follow the download until it ends")
        parser.add_argument(
            "--interval", type=float, default=None, help="seconds between progress reads"
        )

    def handle(self, *args, url, name, tags, md5, wait, interval, **options):
        url, auth = split_credentials(url)
        monitor = FileMonitor(url=url, name=name, tags=tags, md5sum=md5)
        try:
            clean_monitor(monitor)
            check_download_url(monitor.url)
        except BadRequest as exc:
            raise CommandError(str(exc)) from None
        with transaction.atomic():
            monitor.save()
            queue_download(monitor, auth=auth)  # sent when the transaction commits
        self.stdout.write(str(monitor.pk))
        if not wait:
            return
        tty = self.stdout.isatty()
        display = ProgressDisplay(self.stdout, tty=tty)
        try:
            done = follow(monitor.pk, display, interval=interval or (0.25 if tty else 0.5))
        except KeyboardInterrupt:
            display.close()
            raise CommandError(
                f"Stopped following download {monitor.pk}; it goes on in the background."
            ) from None
        self.stdout.write(f"Complete: {done.full_path()}")
        self.stdout.write(f"md5: {done.md5sum}")
