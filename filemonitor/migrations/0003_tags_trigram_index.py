"""On PostgreSQL, a trigram index for ``tags__contains`` (the UI's tag filter).

``LIKE '%bedfile%'`` cannot use the B-tree on tags, so every tag filter read the
whole table twice (its page and its total_count). pg_trgm's GIN index answers it
from the index. pg_trgm ships with PostgreSQL and is a trusted extension (13+), so
the database owner may create it; where it cannot be had, the migration says so and
goes on without the index (the filter then scans, as before).
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger("filemonitor")

INDEX = "filemonitor_tags_trgm_idx"


def add_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias):  # a savepoint: a refusal is not fatal
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        logger.warning("pg_trgm unavailable (%s): tags__contains filters will scan the table", exc)
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON filemonitor_filemonitor "
        "USING gin (tags gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("filemonitor", "0002_row_count"),
    ]

    operations = [
        migrations.RunPython(add_index, drop_index),
    ]
