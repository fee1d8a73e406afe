"""An exact row count of the FileMonitor table, kept by database triggers.

The API's unfiltered list reports ``total_count`` on every page; COUNT(*) visits
every row, so a large table made every list request slow. Triggers installed by
migration 0002 add and subtract inserted and deleted rows in ``RowCount`` inside
the same transaction, so the count is exact and never ahead of what a reader can
see. Filtered lists still COUNT(*) what they match. Where there are no triggers
(another database) or no counter row (e.g. after ``manage.py flush``), the total
is counted as before; ``recount()`` puts the counter back.
"""

from django.db import connections, transaction

from .models import FileMonitor, RowCount

TABLE = FileMonitor._meta.db_table
COUNTS = RowCount._meta.db_table
#: Databases where migration 0002 installs the triggers.
TRIGGER_VENDORS = ("postgresql", "sqlite")


def recount(using="default"):
    """Set the counter to COUNT(*), with writers to the table held off meanwhile.

    For a counter that was lost (``manage.py flush`` empties every table).
    """
    vendor = connections[using].vendor
    if vendor not in TRIGGER_VENDORS:
        return
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        if vendor == "postgresql":
            # Writers wait until commit: no row is counted twice or missed.
            cursor.execute(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f'DELETE FROM {COUNTS} WHERE "table" = %s', [TABLE])
        cursor.execute(
            f'INSERT INTO {COUNTS} ("table", total) SELECT %s, count(*) FROM {TABLE}', [TABLE]
        )


def exact_total(queryset):
    """The number of rows of an unfiltered FileMonitor queryset, from the counter; else None."""
    if queryset.model is not FileMonitor or queryset.query.has_filters():
        return None
    if queryset.query.distinct or queryset.query.is_sliced:
        return None
    counter = RowCount.objects.using(queryset.db).filter(table=TABLE)
    return counter.values_list("total", flat=True).first()
