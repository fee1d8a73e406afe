"""Fixtures for the property-based tests: a small fixed dataset and a probe that checks
every response of every generated example against the API's promises.

Each example runs inside a transaction that is rolled back afterwards (a sentinel
exception), so examples never see each other's writes; the dataset is made once per test.
"""

import json
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis.control import currently_in_test_context
from tastypie.models import ApiKey

from filemonitor.models import FileMonitor
from tests.api.conftest import JsonClient, make_monitor, rows

#: Examples per test in ``make test``; the ``soak`` variants run SOAK_FACTOR times more.
QUICK = 200
SOAK_FACTOR = 25


def budgets(quick=QUICK):
    """Parametrize a test over its example budget: quick, and a ``soak``-marked long run."""
    return pytest.mark.parametrize(
        "budget",
        [pytest.param(quick, id="quick"),
         pytest.param(quick * SOAK_FACTOR, id="soak", marks=pytest.mark.soak)],
    )  # fmt: skip


def explore(budget, **strategies):
    """Run the decorated function now, for ``budget`` examples drawn from ``strategies``."""

    def run(function):
        settings(
            max_examples=budget,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )(given(**strategies)(function))()

    return run


@pytest.fixture(autouse=True)
def _cheap_passwords_and_own_root(fast_passwords, download_root):
    """Every example: fast password hashing and the test's own empty FILEMONITOR_ROOT."""


@pytest.fixture(autouse=True)
def restore_id_sequence(db):
    """Put PostgreSQL's id sequence back after the test.

    A client-chosen id moves the sequence (resources._reserve_id), and sequences ignore
    rollbacks: without this, ids near MAX_CHOSEN_ID from generated examples would be
    handed out to the tests that run after these.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [FileMonitor._meta.db_table])
        sequence = cursor.fetchone()[0]
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
        last_value, is_called = cursor.fetchone()
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(%s, %s, %s)", [sequence, last_value, is_called])


@pytest.fixture
def api(client, admin_user):
    """A superuser's client (API key header: no password hashing per request)."""
    key = ApiKey.objects.get(user=admin_user).key
    return JsonClient(client, {"HTTP_AUTHORIZATION": f"ApiKey {admin_user.username}:{key}"})


@pytest.fixture
def dataset(db, download_root):
    """Five rows covering the statuses that matter (finished, running, failed, new)."""
    folder = download_root / "1-done"
    folder.mkdir()
    (folder / "a.zip").write_bytes(b"zip")
    made = [
        make_monitor(url="http://example.com/ref/a.zip", local_dir=str(folder), name="a.zip",
                     size=3, progress=3, md5sum="a" * 32, tags="reference", status="Complete"),
        make_monitor(url="http://example.com/q.bin", status="Queued", celery_task_id="task-q"),
        make_monitor(url="http://example.com/missing", status="HTTP Error: Not Found",
                     tags="upload,report/7/"),
        make_monitor(url="https://example.org/big.bam", status="Downloading", size=10**12,
                     progress=4663793607, celery_task_id="task-d", tags="bedfile"),
        make_monitor(url="http://example.com/\u00e9t\u00e9.txt", status="", tags="\u4e00"),
    ]  # fmt: skip
    return [monitor.pk for monitor in made]


def event(text):
    """Count ``text`` in hypothesis' statistics (--hypothesis-show-statistics), if in one."""
    if currently_in_test_context():
        hypothesis_event(text)


class _Rollback(Exception):
    """Raised at the end of an example to undo everything it wrote."""


@contextmanager
def rolled_back():
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


def error_body(response):
    """The parsed body of an error response (JSON, or JSONP when the client asked for it)."""
    text = response.content.decode()
    if response["Content-Type"].startswith("text/javascript"):
        text = text[text.index("(") + 1 : text.rindex(")")]
    return json.loads(text)


class Probe:
    """Send one request per example and check what the API promises for any input.

    * never a 500 (the one 5xx is tastypie's 501 for POST on a detail URL, as in the original);
    * a 400 is JSON (JSONP if asked for) with an ``error`` string;
    * a 4xx changes no row and queues nothing;
    * after the example's rollback the rows are exactly the dataset again.
    """

    #: What a refused request may answer: tastypie's 401/404/405/406/501 have empty or
    #: plain bodies; 400 is ours.
    CLIENT_ERRORS = {400, 401, 404, 405, 406, 501}

    def __init__(self, capture):
        self.capture = capture
        self.before = rows()
        self.statuses = {}

    def __call__(self, send):
        with rolled_back():
            with self.capture() as callbacks:
                response = send()
            self._check(response, callbacks)
        assert rows() == self.before
        return response

    def _check(self, response, callbacks):
        status = response.status_code
        event(f"status {status}")
        self.statuses[status] = self.statuses.get(status, 0) + 1
        assert status != 500, response.content[:2000]
        if status == 400:
            body = error_body(response)
            assert isinstance(body, dict) and isinstance(body.get("error"), str), body
            event(f"400: {body['error'][:40]}")
        if status >= 400:
            assert status in self.CLIENT_ERRORS, (status, response.content[:500])
            assert rows() == self.before, "a refused request changed rows"
            assert callbacks == [], "a refused request queued work"


@pytest.fixture
def probe(request, dataset, django_capture_on_commit_callbacks):
    """The Probe; its status counts are printed after the test (``-s`` shows them)."""
    checker = Probe(django_capture_on_commit_callbacks)
    yield checker
    counts = ", ".join(f"{status}: {n}" for status, n in sorted(checker.statuses.items()))
    print(f"\n{request.node.nodeid}: {sum(checker.statuses.values())} requests ({counts})")
