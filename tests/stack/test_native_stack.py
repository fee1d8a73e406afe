"""The compose stack's own commands, run natively on this machine's PostgreSQL and Redis.

Docker cannot run here, so this is the next best thing: the migrate, web, worker, beat
and flower commands are taken from docker-compose.yml (and collectstatic from the
Dockerfile), with only the listening addresses and the container paths adapted, and run
as subprocesses in the environment .env.example gives them, against a fresh PostgreSQL
database and two Redis databases of their own. Then a download goes through gunicorn,
the worker and Flower, as it would in production, and beat's stale sweep runs on the
worker again and again.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings

from tests.conftest import poll

from .stackfiles import (
    REPO,
    dockerfile_env,
    dockerfile_instructions,
    interpolate,
    load_compose,
    read_env_file,
    replace_option,
)

pytestmark = pytest.mark.worker

MiB = 1024 * 1024
#: Seconds between beat's stale sweeps here (60 by default): the test has no minute to wait.
SWEEP_INTERVAL = 3
#: Variables of this test run that must not leak into the stack's environment.
_OWN_PREFIXES = ("DJANGO_", "DATABASE_", "CELERY_", "FILEMONITOR_", "FLOWER_", "POSTGRES_")


def _postgres_admin():
    """Connection settings for creating databases: this run's PostgreSQL, or the default."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        return {
            "host": db.get("HOST") or "127.0.0.1",
            "port": int(db.get("PORT") or 5432),
            "user": db.get("USER") or "postgres",
            "password": db.get("PASSWORD") or "",
        }
    return {"host": "127.0.0.1", "port": 5432, "user": "postgres", "password": ""}


def _redis_address():
    for url in (settings.CELERY_BROKER_URL, "redis://127.0.0.1:6379/0"):
        parts = urlsplit(url)
        if parts.scheme == "redis":
            return parts.hostname or "127.0.0.1", parts.port or 6379, parts.password
    raise AssertionError("unreachable")


def _require_services(pg, redis_address):
    import psycopg
    import redis

    problems = []
    try:
        psycopg.connect(dbname="postgres", connect_timeout=3, **pg).close()
    except Exception as exc:
        problems.append(f"PostgreSQL at {pg['host']}:{pg['port']} ({type(exc).__name__})")
    host, port, password = redis_address
    try:
        redis.Redis(host=host, port=port, password=password, socket_timeout=3).ping()
    except Exception as exc:
        problems.append(f"Redis at {host}:{port} ({type(exc).__name__})")
    if problems:
        message = (
            "!!! THE NATIVE STACK TEST IS SKIPPED: " + " and ".join(problems) + " unreachable. "
            "It needs the machine's PostgreSQL and Redis."
        )
        if os.environ.get("FILEMONITOR_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """Child processes with their logs; stop() ends them and everything they started."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.processes = {}

    def _log(self, name):
        return open(self.log_dir / f"{name}.log", "ab")

    def run(self, name, argv, env, timeout=180):
        with self._log(name) as log:
            result = subprocess.run(
                argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
            )
        assert result.returncode == 0, f"{name} exited {result.returncode}\n{self.tail(name)}"

    def start(self, name, argv, env):
        log = self._log(name)
        # A session of its own: stop() can end the process group (pool children too).
        process = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = (process, log)
        return process

    def alive(self, name):
        process = self.processes[name][0]
        assert process.poll() is None, f"{name} exited {process.returncode}\n{self.tail(name)}"
        return True

    def tail(self, name, lines=40):
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {name}.log (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:])

    def tails(self):
        return "\n".join(self.tail(name) for name in sorted(self.processes))

    def stop(self):
        for process, _ in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 20
        for process, log in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            # Whatever the leader left behind in its group (gunicorn or pool workers).
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            log.close()


@pytest.fixture(scope="module")
def stack_database():
    """A fresh PostgreSQL database for the stack, dropped afterwards."""
    import psycopg
    from psycopg import sql

    pg = _postgres_admin()
    _require_services(pg, _redis_address())
    name = f"filemonitor_stack_{os.getpid()}"
    with psycopg.connect(dbname="postgres", autocommit=True, **pg) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    password = f":{pg['password']}" if pg["password"] else ""
    yield f"postgres://{pg['user']}{password}@{pg['host']}:{pg['port']}/{name}"
    with psycopg.connect(dbname="postgres", autocommit=True, **pg) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


#: Redis databases the stack may use: far from the suite's 0/1 and the bench's 4/5.
REDIS_DB_PAIRS = ((10, 11), (12, 13), (14, 15))
_CLAIM_KEY = "filemonitor:stack-test:claim"


@pytest.fixture(scope="module")
def stack_redis():
    """Broker and result URLs on a pair of Redis databases claimed by this run, emptied
    afterwards. A pair that a parallel run has claimed is left alone."""
    import redis

    host, port, password = _redis_address()

    def client(db):
        return redis.Redis(host=host, port=port, password=password, db=db)

    def claim(pair, *, stale_ok):
        broker, results = client(pair[0]), client(pair[1])
        if broker.dbsize() or results.dbsize():
            # Leftovers of a run that died before its teardown carry no live claim.
            if not stale_ok or broker.exists(_CLAIM_KEY):
                return False
            broker.flushdb()
            results.flushdb()
        return bool(broker.set(_CLAIM_KEY, os.getpid(), nx=True, ex=900))

    claimed = next((p for p in REDIS_DB_PAIRS if claim(p, stale_ok=False)), None)
    claimed = claimed or next((p for p in REDIS_DB_PAIRS if claim(p, stale_ok=True)), None)
    if claimed is None:
        pytest.fail(f"no free pair of Redis databases among {REDIS_DB_PAIRS} on {host}:{port}")
    auth = f":{password}@" if password else ""
    yield tuple(f"redis://{auth}{host}:{port}/{n}" for n in claimed)
    for db in claimed:
        with client(db) as done:
            done.flushdb()


class ComposeStack(Stack):
    """The compose services' commands, in the environment compose would give them.

    Only what cannot be the same outside a container is adapted: the addresses listened
    on (127.0.0.1 and free ports), the container paths (folders of the test), the
    database and Redis (this run's), the worker's concurrency (2, the machine is small)
    and how often beat sends the stale sweep (``SWEEP_INTERVAL``). The rest comes from
    docker-compose.yml, the Dockerfile and .env.example.
    """

    def __init__(self, tmp, database_url, broker_url, result_url):
        super().__init__(tmp)
        self.services = load_compose()["services"]
        self.dockerfile = dockerfile_instructions()
        example, _ = read_env_file()
        image_env = dockerfile_env(self.dockerfile)
        self.paths = {
            example["FILEMONITOR_ROOT"]: tmp / "downloads",
            image_env["DJANGO_STATIC_ROOT"]: tmp / "static",
            "/tmp/build-var": tmp / "build-var",
        }
        self.root = self.paths[example["FILEMONITOR_ROOT"]]
        self.beat_schedule = tmp / "beat" / "celerybeat-schedule"
        self.beat_schedule.parent.mkdir()
        self.static_root = self.paths[image_env["DJANGO_STATIC_ROOT"]]
        self.admin = ("stackadmin", secrets.token_urlsafe(12))
        self.flower_auth = ("flower", secrets.token_urlsafe(12))
        self.web_port, self.flower_port = _free_port(), _free_port()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.flower_url = f"http://127.0.0.1:{self.flower_port}"

        base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
        base.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
            HOSTNAME=socket.gethostname(),  # as in a container: the worker's node name
        )
        # At build time the image has only its own ENV: no .env, no secrets.
        self.build_env = {**base, **image_env, "DJANGO_STATIC_ROOT": str(self.static_root)}
        self.env = {**self.build_env, **example}
        self.env.update(
            DATABASE_URL=database_url,
            CELERY_BROKER_URL=broker_url,
            CELERY_RESULT_BACKEND=result_url,
            FILEMONITOR_ROOT=str(self.root),
            FILEMONITOR_VAR_DIR=str(tmp / "var"),
            FILEMONITOR_WORKER_CONCURRENCY="2",
            FILEMONITOR_STALE_SWEEP_INTERVAL=str(SWEEP_INTERVAL),
            WEB_CONCURRENCY="2",
            DJANGO_SUPERUSER_USERNAME=self.admin[0],
            DJANGO_SUPERUSER_PASSWORD=self.admin[1],
            FLOWER_BASIC_AUTH=":".join(self.flower_auth),
        )

    def adapt_paths(self, text):
        for container_path, local in self.paths.items():
            text = text.replace(container_path, str(local))
        return text

    def service(self, name):
        """``(argv, env)`` of a service, its ``environment:`` and ``${...}`` applied."""
        service = self.services[name]
        env = {**self.env, **interpolate(service.get("environment") or {}, self.env)}
        return interpolate(service["command"], env), env

    def build(self):
        """The Dockerfile's collectstatic step, in the build's environment."""
        [run] = [a for k, a in self.dockerfile if k == "RUN" and "collectstatic" in a]
        step = next(step for step in run.split("&&") if "collectstatic" in step)
        self.run("collectstatic", ["sh", "-c", self.adapt_paths(step)], self.build_env)

    def up(self):
        self.build()
        self.run("migrate", *self.service("migrate"))
        argv, env = self.service("web")
        self.start("web", replace_option(argv, "--bind", f"127.0.0.1:{self.web_port}"), env)
        argv, env = self.service("worker")
        assert "--concurrency=2" in argv, "the worker's concurrency comes from the environment"
        self.start("worker", argv, env)
        argv, env = self.service("beat")
        self.start("beat", replace_option(argv, "--schedule", str(self.beat_schedule)), env)
        argv, env = self.service("flower")
        argv = replace_option(argv, "--address", "127.0.0.1")
        self.start("flower", replace_option(argv, "--port", str(self.flower_port)), env)
        self.wait_answers("web", f"{self.web_url}/healthz")
        self.wait_answers("flower", f"{self.flower_url}/healthcheck")
        return self

    def wait_answers(self, name, url):
        def answers():
            self.alive(name)
            try:
                return requests.get(url, timeout=15).status_code == 200
            except requests.RequestException:  # not listening yet, or still loading
                return False

        poll(answers, timeout=120, interval=0.3, message=f"{name} to answer")

    def healthcheck(self, name):
        """The service's compose healthcheck, run here with the ports adapted."""
        kind, *test = self.services[name]["healthcheck"]["test"]
        test = interpolate(test, {})  # only $$ escapes: the shell expands the rest
        ports = {":8000/": f":{self.web_port}/", ":5555/": f":{self.flower_port}/"}
        for container_port, port in ports.items():
            test = [arg.replace(container_port, port) for arg in test]
        argv = ["sh", "-c", test[0]] if kind == "CMD-SHELL" else test
        result = subprocess.run(argv, cwd=REPO, env=self.env, capture_output=True, timeout=60)
        return self.alive(name) and result.returncode == 0

    def flower_get(self, path, **params):
        return requests.get(
            f"{self.flower_url}{path}", params=params, auth=self.flower_auth, timeout=30
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_database, stack_redis):
    stack = ComposeStack(tmp_path_factory.mktemp("stack"), stack_database, *stack_redis)
    try:
        yield stack.up()
    finally:
        stack.stop()
        print(stack.tails())  # shown with the report of a test that failed
    for name, (process, _) in stack.processes.items():
        assert process.returncode is not None, f"{name} is still running"


@pytest.mark.parametrize("service", ["web", "worker", "beat", "flower"])
def test_the_compose_healthchecks_pass(stack, service):
    poll(
        lambda: stack.healthcheck(service),
        timeout=120,
        interval=1,
        message=f"{service}'s healthcheck to pass",
    )


def test_healthz_static_files_and_admin_through_gunicorn(stack):
    health = requests.get(f"{stack.web_url}/healthz", timeout=30)
    assert health.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    # Collected at build, served compressed by WhiteNoise.
    css = requests.get(f"{stack.web_url}/static/admin/css/base.css", timeout=30)
    assert css.status_code == 200 and css.headers.get("Content-Encoding") == "gzip"
    assert (stack.static_root / "admin" / "css" / "base.css").is_file()
    assert requests.get(f"{stack.web_url}/admin/login/", timeout=30).status_code == 200


def test_flower_wants_its_login(stack):
    assert requests.get(f"{stack.flower_url}/api/tasks", timeout=30).status_code == 401
    wrong = ("flower", "not-the-password")
    reply = requests.get(f"{stack.flower_url}/api/tasks", auth=wrong, timeout=30)
    assert reply.status_code == 401
    assert stack.flower_get("/api/tasks").status_code == 200


def test_a_download_through_gunicorn_completes_and_flower_shows_it(stack, file_server):
    def worker_online():
        stack.alive("worker")
        reply = stack.flower_get("/api/workers", status="true")
        return reply.status_code == 200 and any(reply.json().values())

    poll(
        worker_online,
        timeout=120,
        interval=0.5,
        message="Flower to see the worker online",
    )

    resource = file_server.add("/stack/genome.bin", size=2 * MiB + 7, seed=41)
    api = f"{stack.web_url}/rundb/api/v1/filemonitor/"
    created = requests.post(
        api,
        json={"url": file_server.url("/stack/genome.bin"), "tags": "stack"},
        auth=stack.admin,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location.startswith(api)

    def finished():
        stack.alive("worker")
        row = requests.get(location, auth=stack.admin, timeout=30).json()
        return row if row["status"] == "Complete" or "Error" in row["status"] else None

    row = poll(finished, timeout=120, interval=0.3, message="the download to finish")
    assert row["status"] == "Complete", row
    assert row["md5sum"] == resource.md5
    path = Path(row["local_dir"]) / row["name"]
    assert path.is_relative_to(stack.root) and path.stat().st_size == 2 * MiB + 7

    def task_succeeded():
        reply = stack.flower_get("/api/tasks")
        task = reply.json().get(row["celery_task_id"]) if reply.status_code == 200 else None
        return task if task and task["state"] == "SUCCESS" else None

    task = poll(
        task_succeeded, timeout=90, interval=0.5, message="Flower to show the task as SUCCESS"
    )
    assert task["name"] == "filemonitor.download_something"
    assert task["worker"] == f"celery@{socket.gethostname()}"


def test_beat_sends_the_stale_sweep_again_and_again_and_the_worker_runs_it(stack):
    def sweeps_done():
        stack.alive("beat")
        reply = stack.flower_get("/api/tasks", taskname="filemonitor.recover_stale")
        tasks = reply.json().values() if reply.status_code == 200 else []
        done = [task for task in tasks if task["state"] == "SUCCESS"]
        return done if len(done) >= 3 else None

    done = poll(
        sweeps_done,
        timeout=30 * SWEEP_INTERVAL,
        interval=0.5,
        message="three stale sweeps sent by beat to succeed",
    )
    assert {task["worker"] for task in done} == {f"celery@{socket.gethostname()}"}
    # Sent one at a time as beat ticks, not in one burst: each is received within its
    # expiry (SWEEP_INTERVAL) of being sent, so three span at least one interval.
    received = sorted(task["received"] for task in done)
    assert received[-1] - received[0] >= SWEEP_INTERVAL, received


def test_beat_healthcheck_fails_while_beat_is_frozen(stack):
    poll(lambda: stack.healthcheck("beat"), timeout=120, interval=1, message="beat healthy")
    beat = stack.processes["beat"][0]
    os.kill(beat.pid, signal.SIGSTOP)  # alive, but neither ticking nor answering
    try:
        assert not stack.healthcheck("beat"), "a frozen beat passed its healthcheck"
    finally:
        os.kill(beat.pid, signal.SIGCONT)
    poll(
        lambda: stack.healthcheck("beat"),
        timeout=120,
        interval=1,
        message="beat's healthcheck to pass again once it runs",
    )
