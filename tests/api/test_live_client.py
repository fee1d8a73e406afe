"""The Torrent Suite UI's clean-up flow, replayed with ``requests`` against a live server.

The UI finds rows by source URL with a JSONP GET whose ``url=`` value is NOT
percent-encoded, then deletes each one by id.
"""

import re

import pytest
import requests

from filemonitor.models import FileMonitor
from tests.api.conftest import make_monitor
from tests.api.test_formats import parse_jsonp
from tests.conftest import API

SOURCE = "http://ionupdates.com/reference_downloads/GRCh38.p2.mask1.zip"
TIMEOUT = 10


def basic_session(live_server):
    session = requests.Session()
    session.auth = ("boss", "pw-boss")
    return session


def browser_session(live_server):
    """Log in through the admin form, then send the CSRF token like jQuery does."""
    session = requests.Session()
    login = f"{live_server.url}/admin/login/"
    page = session.get(login, timeout=TIMEOUT).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    form = {
        "username": "boss",
        "password": "pw-boss",
        "csrfmiddlewaretoken": token,
        "next": "/admin/",
    }
    assert session.post(login, data=form, headers={"Referer": login}, timeout=TIMEOUT).ok
    assert "sessionid" in session.cookies
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    return session


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("login", [basic_session, browser_session], ids=["basic", "session"])
def test_ui_finds_rows_by_raw_url_and_deletes_them(live_server, admin_user, login):
    doomed = [make_monitor(url=SOURCE), make_monitor(url=SOURCE, status="HTTP Error: 404")]
    others = [
        make_monitor(url=SOURCE + ".md5"),
        make_monitor(url="http://ionupdates.com/other.zip"),
    ]
    session = login(live_server)
    # Raw, exactly as the UI builds it: no percent-encoding of the url value.
    query = f"{live_server.url}{API}?format=jsonp&callback=jQuery17_123&url={SOURCE}"
    response = session.get(query, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript"
    callback, data = parse_jsonp(response.text)
    assert callback == "jQuery17_123"
    found = sorted(item["id"] for item in data["objects"])
    assert found == sorted(m.pk for m in doomed)
    for pk in found:
        assert session.delete(f"{live_server.url}{API}{pk}/", timeout=TIMEOUT).status_code == 204
    assert sorted(FileMonitor.objects.values_list("id", flat=True)) == sorted(m.pk for m in others)
    again = parse_jsonp(session.get(query, timeout=TIMEOUT).text)[1]
    assert again["objects"] == [] and again["meta"]["total_count"] == 0


@pytest.mark.django_db(transaction=True)
def test_live_post_answers_an_absolute_location(live_server, admin_user):
    session = basic_session(live_server)
    body = {"url": SOURCE, "status": "Complete"}
    response = session.post(f"{live_server.url}{API}", json=body, timeout=TIMEOUT)
    assert response.status_code == 201 and response.content == b""
    pk = FileMonitor.objects.get().pk
    assert response.headers["Location"] == f"{live_server.url}{API}{pk}/"
    assert session.get(response.headers["Location"], timeout=TIMEOUT).json()["url"] == SOURCE
