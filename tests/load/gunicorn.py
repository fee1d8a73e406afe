"""The API under gunicorn in a child process, started as production starts it."""

import re
import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import REPO, poll
from tests.processes import StartStop, stop_session

_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


class Gunicorn(StartStop):
    """``python -m gunicorn rundb.wsgi:application`` on 127.0.0.1 (a free port).

    ``env`` is the whole environment (database, broker, root...). Logs go to
    ``<log_dir>/<name>-access.log`` and ``-error.log`` with gunicorn's default formats.
    A context manager: serving (``/healthz`` answers) inside, stopped on the way out.
    """

    def __init__(self, env, log_dir, *, name="gunicorn", workers=2, threads=8):
        self.access_log = Path(log_dir) / f"{name}-access.log"
        self.error_log = Path(log_dir) / f"{name}-error.log"
        self.env = env
        self.command = [
            sys.executable, "-m", "gunicorn", "rundb.wsgi:application",
            "--workers", str(workers), "--threads", str(threads), "--no-control-socket",
            "-b", "127.0.0.1:0", "--access-logfile", str(self.access_log),
            "--error-logfile", str(self.error_log),
        ]  # fmt: skip
        self.process = None
        self.port = None

    def start(self, timeout=90):
        self.process = subprocess.Popen(
            self.command, cwd=REPO, env=self.env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def listening():
            assert self.process.poll() is None, f"gunicorn exited\n{self.tail()}"
            text = self.error_log.read_text() if self.error_log.exists() else ""
            match = _LISTENING.search(text)
            return match and int(match[1])

        self.port = poll(listening, timeout=timeout, interval=0.1, message="gunicorn to listen")
        poll(self._answers, timeout=timeout, interval=0.1, message="gunicorn to answer")
        return self

    def _answers(self):
        try:
            return requests.get(self.url("/healthz"), timeout=10).status_code in (200, 503)
        except requests.RequestException:  # not up yet, or too busy to answer in time
            return False

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        """SIGTERM (gunicorn finishes its requests and flushes its logs), then SIGKILL."""
        stop_session(self.process)  # and the workers left behind, if any

    def tail(self, lines=40):
        text = self.error_log.read_text(errors="replace") if self.error_log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
