"""total_count of an unfiltered list comes from a trigger-kept counter, and stays exact.

Every test starts by putting the counter back (rowcount.recount): a test that runs
with transaction=True ends with a flush, which empties every table, counter included.
"""

import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from filemonitor import rowcount
from filemonitor.models import FileMonitor, RowCount
from tests.conftest import API

from .conftest import make_monitor

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL only (DATABASE_URL)"
)


def counter():
    return RowCount.objects.get(table=rowcount.TABLE).total


def assert_exact():
    assert counter() == FileMonitor.objects.count()


@pytest.fixture
def counted(db):
    rowcount.recount()
    assert_exact()


def _count_queries(queries):
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


def test_every_kind_of_write_keeps_the_counter_exact(counted):
    make_monitor()
    assert counter() == 1
    FileMonitor.objects.bulk_create(FileMonitor(url=f"http://h/{i}") for i in range(250))
    assert counter() == 251
    FileMonitor.objects.filter(url__startswith="http://h/1").delete()
    assert_exact()
    FileMonitor.objects.first().delete()
    assert_exact()
    with connection.cursor() as cursor:  # SQL that bypasses the ORM is counted too
        cursor.execute(f"INSERT INTO {rowcount.TABLE} (url, local_dir, name, progress, status, "
                       "celery_task_id, tags, created, updated) SELECT url, local_dir, name, "
                       f"progress, status, celery_task_id, tags, created, updated FROM "
                       f"{rowcount.TABLE}")  # fmt: skip
    assert counter() == 2 * (251 - 111 - 1)
    assert_exact()
    FileMonitor.objects.all().delete()
    assert counter() == 0


def test_a_rolled_back_insert_is_not_counted(counted):
    make_monitor()
    with pytest.raises(RuntimeError), transaction.atomic():
        FileMonitor.objects.bulk_create(FileMonitor(url=f"http://h/{i}") for i in range(10))
        assert counter() == 11  # seen inside the transaction that made the rows
        raise RuntimeError("roll back")
    assert counter() == 1
    assert_exact()


@on_postgresql
def test_truncate_sets_the_counter_to_zero(counted):
    FileMonitor.objects.bulk_create(FileMonitor(url=f"http://h/{i}") for i in range(5))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {rowcount.TABLE}")
    assert counter() == 0


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_are_all_counted():
    rowcount.recount()
    writers, per_writer = 6, 40
    start = threading.Barrier(writers)
    errors = []

    def write(index):
        try:
            start.wait(timeout=30)
            for i in range(per_writer):
                with transaction.atomic():  # one transaction per row: commits interleave
                    make_monitor(url=f"http://h/{index}/{i}")
                    if i % 4 == 3:
                        FileMonitor.objects.filter(url=f"http://h/{index}/{i - 1}").delete()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert not any(thread.is_alive() for thread in threads)
    assert counter() == FileMonitor.objects.count() == writers * per_writer * 3 // 4


def test_the_unfiltered_list_reads_the_counter_not_count(counted, api):
    for i in range(7):
        make_monitor(url=f"http://h/{i}", status="Complete" if i % 2 else "Queued")
    with CaptureQueriesContext(connection) as queries:
        body = api.get(API, {"limit": 2}).json()
    assert body["meta"]["total_count"] == 7
    assert len(body["objects"]) == 2
    assert _count_queries(queries.captured_queries) == []


def test_a_filtered_list_still_counts_what_it_matches(counted, api):
    for i in range(7):
        make_monitor(url=f"http://h/{i}", status="Complete" if i % 2 else "Queued")
    with CaptureQueriesContext(connection) as queries:
        body = api.get(API, {"status": "Queued", "limit": 1}).json()
    assert body["meta"]["total_count"] == 4
    assert len(_count_queries(queries.captured_queries)) == 1


def test_the_counter_never_disagrees_with_the_list_after_api_writes(counted, api):
    created = [api.post({"url": f"http://h/{i}"}) for i in range(3)]
    assert [r.status_code for r in created] == [201, 201, 201]
    assert api.delete(created[0]["Location"]).status_code == 204
    body = api.get(API).json()
    assert body["meta"]["total_count"] == len(body["objects"]) == 2
    assert_exact()


def test_a_lost_counter_falls_back_to_count(counted, api):
    make_monitor()
    RowCount.objects.all().delete()  # as `manage.py flush` leaves it
    make_monitor()
    with CaptureQueriesContext(connection) as queries:
        assert api.get(API).json()["meta"]["total_count"] == 2
    assert len(_count_queries(queries.captured_queries)) == 1
    rowcount.recount()
    assert counter() == 2


@pytest.mark.django_db(transaction=True)
def test_the_migration_goes_back_and_forth():
    FileMonitor.objects.bulk_create(FileMonitor(url=f"http://h/{i}") for i in range(3))
    call_command("migrate", "filemonitor", "0001", verbosity=0)
    try:
        make_monitor()  # no trigger left behind that would need the dropped table
    finally:
        call_command("migrate", "filemonitor", verbosity=0)
    assert counter() == 4  # counted once on the way forward, then kept
    make_monitor()
    assert counter() == 5
