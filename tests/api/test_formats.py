"""Wire formats: JSON by default, JSONP on request, aware datetimes with microseconds."""

import json
import re
from datetime import datetime

import pytest

from tests.api.conftest import detail_url, make_monitor, set_times, utc
from tests.conftest import API

pytestmark = pytest.mark.django_db

JSONP = re.compile(r"^(?P<callback>[\w$.]+)\((?P<json>.*)\)$", re.DOTALL)


def parse_jsonp(text):
    """``(callback, data)`` of a JSONP body."""
    match = JSONP.match(text)
    assert match, text[:200]
    return match["callback"], json.loads(match["json"])


@pytest.mark.parametrize("path", [API, "{detail}", f"{API}schema/", f"{API}set/{{pk}};999/"])
def test_jsonp_with_callback(api, path):
    monitor = make_monitor()
    url = path.format(detail=detail_url(monitor.pk), pk=monitor.pk)
    response = api.get(url, {"format": "jsonp", "callback": "jQuery1234_5678"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript"
    callback, data = parse_jsonp(response.content.decode())
    assert callback == "jQuery1234_5678" and isinstance(data, dict)


def test_callback_alone_means_jsonp(api):
    make_monitor()
    response = api.get(API, {"callback": "cb"})
    assert response["Content-Type"] == "text/javascript"
    assert parse_jsonp(response.content.decode())[1]["meta"]["total_count"] == 1


def test_invalid_callback_is_a_400_in_json(api):
    response = api.get(API, {"format": "jsonp", "callback": "alert(document.cookie)"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "JSONP callback name is invalid."}


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"format": "json"}, {}),
        ({"format": "xml"}, {}),
        ({"format": "yaml"}, {}),
        ({}, {"HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}),
        ({}, {"HTTP_ACCEPT": "application/xml"}),
        ({}, {"HTTP_ACCEPT": "*/*"}),
        ({}, {}),
    ],
)
def test_everything_else_gets_json(api, params, headers):
    make_monitor()
    response = api.get(API, params, **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["meta"]["total_count"] == 1


def test_datetimes_are_aware_utc_with_real_microseconds(api):
    monitor = make_monitor()
    set_times(monitor, utc(2017, 3, 14, 3, 41, 11, 26), utc(2017, 3, 14, 3, 46, 14, 171))
    body = api.get(detail_url(monitor.pk)).json()
    # The legacy serializer wrote milliseconds into the microsecond digits; we do not.
    assert body["created"] == "2017-03-14T03:41:11.000026+00:00"
    assert body["updated"] == "2017-03-14T03:46:14.000171+00:00"
    assert datetime.fromisoformat(body["created"]) == utc(2017, 3, 14, 3, 41, 11, 26)


def test_whole_second_datetimes_keep_the_offset(api):
    monitor = make_monitor()
    set_times(monitor, utc(2020, 1, 2, 3, 4, 5))
    assert api.get(detail_url(monitor.pk)).json()["created"] == "2020-01-02T03:04:05+00:00"


@pytest.mark.parametrize("text", ["caf\u00e9 \u2603", "line\u2028sep"])
def test_unicode_round_trips(api, text):
    monitor = make_monitor(tags=text)
    response = api.get(detail_url(monitor.pk), {"callback": "cb"})
    assert parse_jsonp(response.content.decode())[1]["tags"] == text
    assert "\u2028" not in response.content.decode()
