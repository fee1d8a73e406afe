"""RowCount, and the triggers that keep the FileMonitor table's row count in it.

The SQL is written out here, not imported, so that this migration stays as it was
when later code changes (filemonitor/rowcount.py reads the counter).
"""

from django.db import migrations, models

TABLE = "filemonitor_filemonitor"
COUNTS = "filemonitor_rowcount"

_POSTGRESQL_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION {TABLE}_count_rows() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- Statement-level: one UPDATE per statement, however many rows it touched.
        IF TG_OP = 'INSERT' THEN
            UPDATE {COUNTS} SET total = total + (SELECT count(*) FROM new_rows)
            WHERE "table" = TG_TABLE_NAME;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE {COUNTS} SET total = total - (SELECT count(*) FROM old_rows)
            WHERE "table" = TG_TABLE_NAME;
        ELSE
            UPDATE {COUNTS} SET total = 0 WHERE "table" = TG_TABLE_NAME;
        END IF;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE TRIGGER {TABLE}_count_insert AFTER INSERT ON {TABLE}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {TABLE}_count_rows()
    """,
    f"""
    CREATE TRIGGER {TABLE}_count_delete AFTER DELETE ON {TABLE}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {TABLE}_count_rows()
    """,
    f"""
    CREATE TRIGGER {TABLE}_count_truncate AFTER TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_count_rows()
    """,
]
_POSTGRESQL_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS {TABLE}_count_insert ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {TABLE}_count_delete ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {TABLE}_count_truncate ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {TABLE}_count_rows()",
]
# SQLite has row-level triggers only; its DELETE without WHERE fires them too (the
# truncate optimisation is off for a table with triggers).
_SQLITE_INSTALL = [
    f"""
    CREATE TRIGGER {TABLE}_count_insert AFTER INSERT ON {TABLE} BEGIN
        UPDATE {COUNTS} SET total = total + 1 WHERE "table" = '{TABLE}';
    END
    """,
    f"""
    CREATE TRIGGER {TABLE}_count_delete AFTER DELETE ON {TABLE} BEGIN
        UPDATE {COUNTS} SET total = total - 1 WHERE "table" = '{TABLE}';
    END
    """,
]
_SQLITE_UNINSTALL = [
    f"DROP TRIGGER IF EXISTS {TABLE}_count_insert",
    f"DROP TRIGGER IF EXISTS {TABLE}_count_delete",
]
_TRIGGERS = {
    "postgresql": (_POSTGRESQL_INSTALL, _POSTGRESQL_UNINSTALL),
    "sqlite": (_SQLITE_INSTALL, _SQLITE_UNINSTALL),
}



def install(apps, schema_editor):
    """Create the triggers (where this database has them) and count the rows once."""
    statements = _TRIGGERS.get(schema_editor.connection.vendor)
    if statements is None:
        return  # no triggers: the API counts rows with COUNT(*)
    for sql in statements[0]:
        schema_editor.execute(sql)
    # The count of the rows already there; the triggers keep it from now on.
    schema_editor.execute(
        f'INSERT INTO {COUNTS} ("table", total) SELECT %s, count(*) FROM {TABLE}', [TABLE]
    )


def uninstall(apps, schema_editor):
    statements = _TRIGGERS.get(schema_editor.connection.vendor)
    for sql in statements[1] if statements else ():
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("filemonitor", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="RowCount",
            fields=[
                ("table", models.CharField(max_length=63, primary_key=True, serialize=False)),
                ("total", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(install, uninstall),
    ]
