"""Shared fixtures: users and credentials, cheap passwords, the download root, a real Celery
worker."""

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from tastypie.models import ApiKey

REPO = Path(__file__).resolve().parent.parent
API = "/rundb/api/v1/filemonitor/"


def basic_auth(username, password):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def make_user(username, *perms, superuser=False):
    if superuser:
        user = User.objects.create_superuser(username, password="pw-" + username)
    else:
        user = User.objects.create_user(username, password="pw-" + username)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def admin_user(db):
    return make_user("boss", superuser=True)


@pytest.fixture
def admin_auth(admin_user):
    return basic_auth("boss", "pw-boss")


@pytest.fixture
def reader_auth(db):
    make_user("reader")
    return basic_auth("reader", "pw-reader")


@pytest.fixture
def api_key_header(admin_user):
    key = ApiKey.objects.get(user=admin_user).key
    return {"HTTP_AUTHORIZATION": f"ApiKey boss:{key}"}


@pytest.fixture
def fast_passwords(settings):
    """Basic auth checks a password on every request: skip the deliberately slow hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def download_root(settings, tmp_path):
    """The test's own empty FILEMONITOR_ROOT."""
    root = tmp_path / "root"
    root.mkdir()
    settings.FILEMONITOR_ROOT = root
    return root


def poll(predicate, *, timeout=30.0, interval=0.05, message="condition"):
    """Call ``predicate`` until it returns a truthy value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def _database_url():
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def worker_env(**extra):
    """The environment a worker needs to share this test run's database and broker."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_database_url(),
        FILEMONITOR_ROOT=str(settings.FILEMONITOR_ROOT),
        FILEMONITOR_PROGRESS_INTERVAL=str(settings.FILEMONITOR_PROGRESS_INTERVAL),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class WorkerProcess:
    """A real ``celery -A rundb worker`` in a child process."""

    def __init__(self, name, *, pool="prefork", concurrency=2, env=None, log_dir=None):
        self.name = f"{name}-{os.getpid()}@localhost"
        self.log_path = Path(log_dir or settings.FILEMONITOR_ROOT).parent / f"{name}.log"
        command = [sys.executable, "-m", "celery", "-A", "rundb", "worker", "-n", self.name,
                   "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "INFO",
                   "--without-mingle", "--without-gossip", "--purge"]  # fmt: skip
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env or worker_env(), stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout=60):
        from rundb.celery import app

        def answered():
            assert self.process.poll() is None, f"worker exited; see {self.log_path}"
            return app.control.ping(destination=[self.name], timeout=0.5)

        poll(answered, timeout=timeout, interval=0.2, message=f"worker {self.name} to answer ping")
        return self

    def child_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """One real worker for the session, on this run's broker and test database."""
    worker = WorkerProcess("worker").wait_ready()
    yield worker
    worker.stop()


@pytest.fixture
def route_downloads(monkeypatch):
    """``route_downloads(queue)``: downloads queued in this process go to ``queue``.

    Patched because a test's own worker listens on a queue of its own, which the
    session worker does not read; the message itself is sent for real.
    """
    from filemonitor.tasks import download_something

    original = download_something.apply_async

    def route(queue):
        def apply_async(args=None, kwargs=None, **options):
            return original(args, kwargs, **{**options, "queue": queue})

        monkeypatch.setattr(download_something, "apply_async", apply_async)

    return route


@pytest.fixture(scope="session")
def file_server():
    from tests.engine.httpserver import FileServer

    with FileServer() as server:
        yield server
