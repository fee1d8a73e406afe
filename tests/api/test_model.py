"""The FileMonitor table: fields as in Torrent Suite, its helpers, and its indexes."""

import re

import pytest
from django.db import connection, models

from filemonitor.models import FileMonitor

#: name -> (Django field class, options that must hold) per legacy-behaviour.md.
LEGACY_FIELDS = {
    "url": (models.CharField, {"max_length": 2000, "null": False, "blank": False}),
    "local_dir": (models.CharField, {"max_length": 512, "default": ""}),
    "name": (models.CharField, {"max_length": 255, "default": ""}),
    "size": (models.BigIntegerField, {"null": True, "default": None}),
    "progress": (models.BigIntegerField, {"null": False, "default": 0}),
    "status": (models.CharField, {"max_length": 60, "default": ""}),
    "celery_task_id": (models.CharField, {"max_length": 60, "default": "", "blank": True}),
    "md5sum": (models.CharField, {"max_length": 32, "null": True, "blank": True, "default": None}),
    "tags": (models.CharField, {"max_length": 1024, "default": ""}),
    "created": (models.DateTimeField, {"auto_now_add": True}),
    "updated": (models.DateTimeField, {"auto_now": True}),
}
INDEXED = {"tags": "filemonitor_tags_idx", "status": "filemonitor_status_idx",
           "url": "filemonitor_url_idx", "created": "filemonitor_created_idx"}  # fmt: skip


@pytest.mark.parametrize("name", LEGACY_FIELDS)
def test_field_matches_the_legacy_table(name):
    field_class, options = LEGACY_FIELDS[name]
    field = FileMonitor._meta.get_field(name)
    assert type(field) is field_class
    assert {option: getattr(field, option) for option in options} == options


def test_no_other_fields():
    assert {f.name for f in FileMonitor._meta.concrete_fields} == {"id", *LEGACY_FIELDS}
    assert FileMonitor._meta.pk.get_internal_type() == "AutoField"


@pytest.mark.parametrize(
    ("progress", "size", "expected"),
    [(0, None, "..."), (5, 0, "..."), (0, 1000, "0.0"), (123, 1000, "12.3"), (1000, 1000, "100.0"),
     (2, 3, "66.7"), (4663793607, 4663793607, "100.0")],
)  # fmt: skip
def test_percent_progress(progress, size, expected):
    assert FileMonitor(url="u", progress=progress, size=size).percent_progress() == expected


def test_full_path():
    assert FileMonitor(local_dir="/results/x", name="a.zip").full_path() == "/results/x/a.zip"


@pytest.mark.parametrize(
    ("status", "expected"),
    [("Queued", True), ("Starting", True), ("Downloading", True), ("Complete", False), ("", False),
     ("HTTP Error: 404", False), ("Connection Error", False)],
)  # fmt: skip
def test_in_progress(status, expected):
    assert FileMonitor(url="u", status=status).in_progress() is expected


@pytest.mark.django_db
def test_defaults_of_a_new_row():
    monitor = FileMonitor.objects.create(url="http://example.com/a")
    monitor.refresh_from_db()
    defaults = {
        name: opts["default"] for name, (_, opts) in LEGACY_FIELDS.items() if "default" in opts
    }
    assert {name: getattr(monitor, name) for name in defaults} == defaults
    assert monitor.created.tzinfo is not None and monitor.updated >= monitor.created


def test_indexes_are_declared():
    declared = {index.name: index.fields for index in FileMonitor._meta.indexes}
    assert declared == {name: [field] for field, name in INDEXED.items()}


# --- PostgreSQL: the indexes are really used on a big table -----------------------------------

ROWS = 100_000
QUERIES = {
    "tags": lambda: FileMonitor.objects.filter(tags="tag-4242"),
    "status": lambda: FileMonitor.objects.filter(status="Error: rare"),
    "url": lambda: FileMonitor.objects.filter(url="http://example.com/f/77777.zip"),
    "created": lambda: FileMonitor.objects.order_by("-created")[:20],
}


@pytest.fixture
def big_table(db):
    """100k varied rows, inserted server-side in one statement, then ANALYZEd.

    All inside the test's transaction (ANALYZE may run there), so nothing leaks out.
    """
    if connection.vendor != "postgresql":
        pytest.skip("index plans are checked on PostgreSQL only (SQLite has no comparable planner)")
    table = FileMonitor._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (url, local_dir, name, size, progress, status, celery_task_id,
                                     md5sum, tags, created, updated)
            SELECT 'http://example.com/f/' || n || '.zip', '', n || '.zip', n, n,
                   CASE WHEN mod(n, 10000) = 0 THEN 'Error: rare' ELSE 'Complete' END, '', NULL,
                   'tag-' || mod(n, 10000), now() - n * interval '1 second', now()
            FROM generate_series(1, %s) AS n""",
            [ROWS],
        )
        cursor.execute(f"ANALYZE {table}")


@pytest.mark.postgres
def test_queries_use_their_indexes(big_table):
    # One test for the four queries: the 100k-row table is built once.
    plans = {field: query().explain() for field, query in QUERIES.items()}
    missed = {
        field: plan
        for field, plan in plans.items()
        if not re.search(
            rf"(Index Scan (Backward )?using|Bitmap Index Scan on) {INDEXED[field]}\b", plan
        )
    }
    assert missed == {}


@pytest.mark.postgres
def test_tags_contains_uses_the_trigram_index(big_table):
    # Migration 0003: LIKE '%...%' cannot use a B-tree; the UI filters tags this way.
    plan = FileMonitor.objects.filter(tags__contains="-4242").explain()
    assert "Bitmap Index Scan on filemonitor_tags_trgm_idx" in plan, plan
    assert FileMonitor.objects.filter(tags__contains="-4242").count() == ROWS // 10000
