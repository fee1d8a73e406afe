"""What a request costs the database: the queries behind a PATCH, a detail GET and a list.

bench/ measures the API against a stock tastypie resource; these pin the queries each
request makes so that no extra round trip creeps back in.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from filemonitor.models import FileMonitor
from tests.api.conftest import JsonClient, detail_url, make_monitor
from tests.conftest import API

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_api(client, api_key_header):
    """The bench's clients: a superuser with an API key."""
    return JsonClient(client, api_key_header)


def queries_of(call):
    """(response, the SQL of every query ``call`` made)."""
    with CaptureQueriesContext(connection) as captured:
        response = call()
    return response, [query["sql"] for query in captured.captured_queries]


def test_patch_reads_the_row_once_and_updates_only_what_it_names(key_api):
    monitor = make_monitor(tags="old", url="http://example.com/a.bin")
    response, sql = queries_of(lambda: key_api.patch({"tags": "new"}, detail_url(monitor.pk)))
    assert response.status_code == 202
    # The user and key, the row, its UPDATE: one statement needs no BEGIN/COMMIT around it.
    assert len(sql) == 3, sql
    update = sql[2]
    assert update.startswith("UPDATE")
    assert '"tags"' in update and '"updated"' in update and '"url"' not in update
    assert FileMonitor.objects.get(pk=monitor.pk).tags == "new"


def test_refused_patch_writes_nothing(key_api):
    monitor = make_monitor(tags="old")
    response, sql = queries_of(lambda: key_api.patch({"size": "-1"}, detail_url(monitor.pk)))
    assert response.status_code == 400
    assert not [query for query in sql if not query.startswith("SELECT")], sql
    assert FileMonitor.objects.get(pk=monitor.pk).tags == "old"


def test_detail_get_is_two_queries(key_api):
    monitor = make_monitor()
    response, sql = queries_of(lambda: key_api.get(detail_url(monitor.pk)))
    assert response.status_code == 200
    assert len(sql) == 2, sql


def test_filtered_list_is_three_queries(key_api):
    for status in ("Downloading", "Queued", "Complete"):
        make_monitor(status=status)
    response, sql = queries_of(lambda: key_api.get(API, {"status__in": "Downloading,Queued"}))
    assert response.status_code == 200
    assert response.json()["meta"]["total_count"] == 2
    # The user and key, the count, the page.
    assert len(sql) == 3, sql
