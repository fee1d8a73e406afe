"""Run the web server and one Celery worker (with beat) together (what `make run` starts)."""

import signal
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the API with gunicorn and run a Celery worker (and beat) beside it until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        web = [sys.executable, "-m", "gunicorn", "rundb.wsgi:application",
               "--bind", f"{host}:{port}", "--workers", "2", "--threads", "4",
               "--access-logfile", "-", "--no-control-socket"]  # fmt: skip
        # --beat: the one worker also runs Celery beat, the clock of the stale-row sweep.
        worker = [sys.executable, "-m", "celery", "-A", "rundb", "worker", "--loglevel", "INFO",
                  "--pool", settings.FILEMONITOR_WORKER_POOL, "--beat",
                  "--concurrency", str(settings.FILEMONITOR_WORKER_CONCURRENCY)]  # fmt: skip
        # SIGTERM (from make, a supervisor or `kill`) stops both children, like Ctrl-C.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        processes = [subprocess.Popen(worker), subprocess.Popen(web)]
        self.stdout.write(f"Serving http://{host}:{port}/rundb/api/v1/filemonitor/ (Ctrl-C stops)")
        try:
            while all(process.poll() is None for process in processes):
                try:
                    processes[1].wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait()


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt
