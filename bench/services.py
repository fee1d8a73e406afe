"""The services a benchmark run needs: PostgreSQL, Redis, gunicorn and Celery workers.

PostgreSQL: by default a private, throw-away cluster (initdb from the machine's own
PostgreSQL binaries) on a free 127.0.0.1 port. A Celery threads pool with concurrency
100 holds 100 database connections at once, as many as a stock server allows in
total: on the shared server that would starve everyone else's tests. Set
``BENCH_DATABASE_URL`` (a server URL; a fresh database is created in it and dropped
afterwards) to use an existing server instead; thread concurrency is then capped to
the connections that server has free.
"""

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from .common import (
    PYTHON,
    VAR,
    Service,
    clean_env,
    free_port,
    log,
    port_open,
    run,
    wait_for,
)

DB_NAME = "filemonitor_bench"
REDIS_URL = "redis://127.0.0.1:6379"
BROKER_DB, RESULT_DB = 4, 5
ADMIN, ADMIN_PASSWORD = "bench", "bench-" + secrets.token_hex(8)
SECRET_KEY = "bench-" + secrets.token_urlsafe(40)
GUNICORN_OPTIONS = ["--workers", "2", "--threads", "4", "--worker-class", "gthread"]


def _pg_bindir():
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        bindir = out.stdout.strip()
        if os.path.exists(os.path.join(bindir, "initdb")):
            return bindir
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(candidates[-1]) if candidates else None


class Postgres:
    """A PostgreSQL server holding the bench database (private cluster or BENCH_DATABASE_URL)."""

    def __init__(self):
        self.server_url = os.environ.get("BENCH_DATABASE_URL")
        self.private = self.server_url is None
        self.datadir = None
        self._as_postgres = []
        self.max_connections = None

    def start(self):
        if self.private:
            bindir = _pg_bindir()
            if bindir is None:
                raise RuntimeError(
                    "PostgreSQL's initdb was not found: install PostgreSQL, or set "
                    "BENCH_DATABASE_URL=postgres://user@127.0.0.1:5432/postgres"
                )
            self._start_private(bindir)
        self._create_database()
        with self.connect(admin=True) as conn:
            self.max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
        return self

    def _start_private(self, bindir):
        self.bindir = bindir
        self.datadir = Path(tempfile.mkdtemp(prefix="filemonitor-bench-pg-"))
        if os.geteuid() == 0:  # the server refuses to run as root
            shutil.chown(self.datadir, "postgres", "postgres")
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        port = free_port()
        run([*self._as_postgres, f"{bindir}/initdb", "-D", str(self.datadir), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
            stdout=subprocess.DEVNULL)  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port}"
            f" -c unix_socket_directories={self.datadir}"
            " -c max_connections=300"
        )
        run([*self._as_postgres, f"{bindir}/pg_ctl", "-D", str(self.datadir), "-w", "-t", "60",
             "-l", str(self.datadir / "server.log"), "-o", options, "start"],
            stdout=subprocess.DEVNULL)  # fmt: skip
        self.server_url = f"postgres://postgres@127.0.0.1:{port}/postgres"
        log(f"private PostgreSQL cluster on 127.0.0.1:{port}")

    def url(self, dbname=DB_NAME):
        parts = urlsplit(self.server_url)
        return urlunsplit(parts._replace(path=f"/{dbname}"))

    def connect(self, admin=False, **kwargs):
        url = self.server_url if admin else self.url()
        return psycopg.connect(url, autocommit=True, **kwargs)

    def _create_database(self):
        with self.connect(admin=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME}")

    def server_pid(self):
        """The private cluster's postmaster (its backends are its children), else None."""
        if not self.private or self.datadir is None:
            return None
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def connections(self):
        """Connections to the bench database right now."""
        with self.connect(admin=True) as conn:
            return conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [DB_NAME]
            ).fetchone()[0]

    def free_connections(self):
        with self.connect(admin=True) as conn:
            used = conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0]
        return self.max_connections - used

    def stop(self):
        with contextlib.suppress(psycopg.Error):
            with self.connect(admin=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        if self.private and self.datadir is not None:
            run([*self._as_postgres, f"{self.bindir}/pg_ctl", "-D", str(self.datadir), "-w",
                 "-m", "fast", "stop"], check=False, stdout=subprocess.DEVNULL)  # fmt: skip
            shutil.rmtree(self.datadir, ignore_errors=True)


def flush_redis():
    import redis

    for db in (BROKER_DB, RESULT_DB):
        client = redis.Redis.from_url(f"{REDIS_URL}/{db}")
        client.flushdb()
        client.close()


def django_env(pg, downloads, **extra):
    """The environment of every Django process of the run (web, worker, manage.py)."""
    return clean_env(
        DATABASE_URL=pg.url(),
        CELERY_BROKER_URL=f"{REDIS_URL}/{BROKER_DB}",
        CELERY_RESULT_BACKEND=f"{REDIS_URL}/{RESULT_DB}",
        FILEMONITOR_ROOT=downloads,
        FILEMONITOR_VAR_DIR=VAR / "var",
        DJANGO_SECRET_KEY=SECRET_KEY,
        DJANGO_SUPERUSER_USERNAME=ADMIN,
        DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
        LOG_LEVEL="WARNING",
        **extra,
    )


def prepare_database(env):
    """Migrate the bench database and create the admin; return its API key."""
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
    out = run([PYTHON, "manage.py", "ensure_admin"], env=env, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("Admin API key:"):
            return line.rsplit(":", 1)[1].strip()
    raise RuntimeError(f"no API key in ensure_admin's output: {out.stdout!r}")


class Gunicorn(Service):
    """``gunicorn rundb.wsgi`` (2 workers x 4 threads, as ``make run``) on a free port."""

    def __init__(self, name, env, settings_module="settings"):
        self.port = free_port()
        env = dict(env, DJANGO_SETTINGS_MODULE=settings_module)
        command = [PYTHON, "-m", "gunicorn", "rundb.wsgi:application",
                   "--bind", f"127.0.0.1:{self.port}", *GUNICORN_OPTIONS]  # fmt: skip
        super().__init__(name, command, env=env)
        wait_for(
            lambda: self.check_alive() and port_open(self.port),
            timeout=60,
            what=f"{name} to listen",
        )

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"


class Worker(Service):
    """``celery -A rundb worker`` with the given pool; waits until it is ready."""

    def __init__(self, name, env, pool, concurrency):
        self.pool, self.concurrency = pool, concurrency
        env = dict(env, LOG_LEVEL="INFO")
        command = [PYTHON, "-m", "celery", "-A", "rundb", "worker", "-n", f"{name}@bench",
                   "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "INFO",
                   "--without-mingle", "--without-gossip", "--without-heartbeat",
                   "--purge"]  # fmt: skip
        super().__init__(name, command, env=env)
        wait_for(
            lambda: self.check_alive() and " ready." in self.log_text(),
            timeout=90,
            interval=0.2,
            what=f"worker {name} to be ready",
        )
        if pool == "prefork":
            wait_for(
                lambda: len(self.pool_pids()) >= concurrency,
                timeout=30,
                what=f"{concurrency} pool processes",
            )

    def pool_pids(self):
        from .common import child_pids

        return child_pids(self.pid)
