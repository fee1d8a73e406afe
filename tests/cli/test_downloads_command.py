"""``manage.py downloads``: the rows as a table, filtered and limited."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from filemonitor.models import FileMonitor

pytestmark = pytest.mark.django_db

LONG_URL = "http://downloads.example.org/" + "very/long/path/" * 6 + "reference.zip"


def table(*args):
    out = io.StringIO()
    call_command("downloads", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def rows():
    made = [
        FileMonitor.objects.create(
            url=LONG_URL, name="hg19.zip", tags="reference", status="Complete",
            size=3 * 1024 * 1024, progress=3 * 1024 * 1024, md5sum="a" * 32,
        ),
        FileMonitor.objects.create(
            url="http://example.org/b.bed", name="b.bed", tags="bedfile", status="Downloading",
            size=2000, progress=500,
        ),
        FileMonitor.objects.create(
            url="http://example.org/missing", tags="reference", status="HTTP Error: Not Found"
        ),
        FileMonitor.objects.create(url="http://example.org/q", status="Queued"),
        FileMonitor.objects.create(url="http://example.org/lost", status="Connection Lost"),
    ]  # fmt: skip
    return made


def columns(line):
    return line.split()


def test_table_lists_newest_first_with_every_column(rows):
    lines = table()
    assert columns(lines[0]) == ["ID", "STATUS", "PERCENT", "SIZE", "NAME", "TAGS", "URL"]
    ids = [int(line.split()[0]) for line in lines[1:-1]]
    assert ids == sorted((row.pk for row in rows), reverse=True)
    assert lines[-1] == "5 of 5 downloads"
    complete = next(line for line in lines if line.startswith(f"{rows[0].pk} "))
    assert columns(complete)[1:6] == ["Complete", "100.0%", "3.0", "MiB", "hg19.zip"]
    assert "reference" in complete
    downloading = next(line for line in lines if line.startswith(f"{rows[1].pk} "))
    assert "25.0%" in downloading and "2.0 KiB" in downloading
    queued = next(line for line in lines if line.startswith(f"{rows[3].pk} "))
    assert columns(queued)[1:4] == ["Queued", "...", "?"]


def test_long_urls_are_truncated_with_an_ellipsis(rows):
    line = next(line for line in table() if line.startswith(f"{rows[0].pk} "))
    url = line.split()[-1]
    assert len(url) == 50 and url.endswith("...") and LONG_URL.startswith(url[:-3])


def test_columns_line_up(rows):
    lines = table()[:-1]
    start = lines[0].index("STATUS")
    assert all(line[start - 2 : start] == "  " for line in lines)
    assert all(line[start] != " " for line in lines)


def test_status_filter_is_case_insensitive(rows):
    lines = table("--status", "queued")
    assert [int(line.split()[0]) for line in lines[1:-1]] == [rows[3].pk]


def test_status_groups_failed_and_active(rows):
    failed = {int(line.split()[0]) for line in table("--status", "failed")[1:-1]}
    assert failed == {rows[2].pk, rows[4].pk}
    active = {int(line.split()[0]) for line in table("--status", "active")[1:-1]}
    assert active == {rows[1].pk, rows[3].pk}


def test_tags_filter_and_limit(rows):
    lines = table("--tags", "reference", "--limit", "1")
    assert [int(line.split()[0]) for line in lines[1:-1]] == [rows[2].pk]
    assert lines[-1] == "1 of 2 downloads"


def test_empty_table_and_bad_limit(db):
    assert table() == ["ID  STATUS  PERCENT  SIZE  NAME  TAGS  URL", "0 of 0 downloads"]
    with pytest.raises(CommandError, match="--limit"):
        table("--limit", "0")
