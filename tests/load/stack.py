"""A production-like stack of its own for load tests: a dedicated PostgreSQL database,
Redis, gunicorn and a Celery worker, all on 127.0.0.1, torn down (database dropped) after.
"""

import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from tests.conftest import REPO, poll
from tests.load.gunicorn import Gunicorn
from tests.processes import StartStop, stop_session

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
ADMIN = "loadadmin"


def unreachable():
    """Why the stack cannot run here (a loud reason), or None."""
    for name, host, port in (("PostgreSQL", PG_HOST, PG_PORT), ("Redis", REDIS_HOST, REDIS_PORT)):
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError as exc:
            return (
                f"LOAD TEST NOT RUN: {name} is not reachable on {host}:{port} ({exc}). "
                "It needs PostgreSQL (user postgres, trust) and Redis on 127.0.0.1."
            )
    return None


def _admin_sql(statement):
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(statement)


class Stack(StartStop):
    """Use as a context manager; ``api_key`` and ``url(path)`` once inside."""

    def __init__(self, base_dir, *, worker_concurrency=4, web_workers=2, web_threads=8):
        self.base_dir = Path(base_dir)
        self.database = f"filemonitor_load_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.queue = f"load-{uuid.uuid4().hex[:8]}"
        self.root = self.base_dir / "downloads"
        self.env = dict(
            os.environ,
            DATABASE_URL=f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.database}",
            CELERY_BROKER_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
            CELERY_RESULT_BACKEND=f"redis://{REDIS_HOST}:{REDIS_PORT}/1",
            CELERY_TASK_DEFAULT_QUEUE=self.queue,
            FILEMONITOR_VAR_DIR=str(self.base_dir / "var"),
            FILEMONITOR_ROOT=str(self.root),
            FILEMONITOR_PROGRESS_INTERVAL="0.5",
            DJANGO_SUPERUSER_USERNAME=ADMIN,
            DJANGO_SUPERUSER_PASSWORD=uuid.uuid4().hex,
            PYTHONUNBUFFERED="1",
        )
        self.env.pop("DATABASE_TEST_NAME", None)
        self.worker_concurrency = worker_concurrency
        self.web = Gunicorn(self.env, self.base_dir, workers=web_workers, threads=web_threads)
        self.worker = None
        self.worker_log = self.base_dir / "worker.log"
        self.api_key = None
        self._created = False

    def start(self):
        _admin_sql(f'CREATE DATABASE "{self.database}"')
        self._created = True
        self._manage("migrate", "--noinput", "--verbosity", "0")
        shown = self._manage("ensure_admin")
        self.api_key = re.search(rf"ApiKey {ADMIN}:(\w+)", shown)[1]
        self._start_worker()
        self.web.start()
        return self

    def _manage(self, *args):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=self.env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def _start_worker(self):
        command = [
            sys.executable, "-m", "celery", "-A", "rundb", "worker", "-n",
            f"load-{os.getpid()}@localhost", "--pool", "prefork",
            "--concurrency", str(self.worker_concurrency), "--loglevel", "INFO",
            "--without-mingle", "--without-gossip", "-Q", self.queue,
        ]  # fmt: skip
        log = open(self.worker_log, "ab")
        self.worker = subprocess.Popen(
            command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()

        def ready():
            assert self.worker.poll() is None, f"worker exited; see {self.worker_log}"
            return " ready." in self.worker_log.read_text(errors="replace")

        poll(ready, timeout=120, interval=0.2, message="the load worker to be ready")

    def url(self, path):
        return self.web.url(path)

    @property
    def auth_header(self):
        return {"Authorization": f"ApiKey {ADMIN}:{self.api_key}"}

    def stop(self):
        self.web.stop()
        stop_session(self.worker)
        if self._created:
            _admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
