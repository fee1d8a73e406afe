"""Which URLs may be downloaded: http(s) only, and with FILEMONITOR_BLOCK_PRIVATE_NETWORKS
no loopback, private, link-local, multicast, reserved or unspecified address.

No test here sends traffic anywhere but the loopback file server: blocked URLs are
refused after name resolution only (literals and ``localhost`` need no DNS server).
"""

import socket
import uuid

import pytest

from filemonitor.engine.errors import BlockedAddress
from filemonitor.models import FileMonitor
from filemonitor.status import status_for_error
from filemonitor.tasks import download_something
from tests.api.conftest import JsonClient, detail_url, make_monitor, rows
from tests.conftest import API

pytestmark = pytest.mark.django_db

NOT_HTTP = [
    "file:///etc/passwd", "FILE:///etc/passwd", "ftp://example.com/pub/x.zip",
    "gopher://example.com:70/1", "javascript:alert(1)", "data:text/plain;base64,aGk=",
    "example.com/x.zip", "//example.com/x.zip", "/etc/passwd", "http:///x.zip", "http://",
    "https://:443/x", "http://[::1", "http://example.com:99999/x", "http://example.com:port/x",
    "ws://example.com/", "jar:http://example.com/x!/", "  file:///etc/passwd",
]  # fmt: skip
BLOCKED = [
    "http://127.0.0.1/", "http://127.0.0.1:{port}/x.bin", "http://localhost/",
    "http://LOCALHOST:{port}/", "http://[::1]/", "http://[::1]:{port}/", "http://0.0.0.0/",
    "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.0.1/", "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[fd00::1]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://224.0.0.1/",
    "http://255.255.255.255/", "http://240.0.0.1/", "http://2130706433/", "http://0x7f.1/",
    "http://017700000001/", "https://127.0.0.1/", "http://alice:s3cr3t@127.0.0.1:{port}/x",
]  # fmt: skip


@pytest.fixture
def api(client, admin_auth):
    return JsonClient(client, admin_auth)


def assert_refused(response, *words):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    for word in words:
        assert word in error
    return error


@pytest.mark.parametrize("url", NOT_HTTP)
def test_only_http_and_https_urls_are_queued(api, django_capture_on_commit_callbacks, url):
    with django_capture_on_commit_callbacks() as queued:
        assert_refused(api.post({"url": url}), "url")
        assert_refused(api.put({"url": url}, detail_url(4242)), "url")
    assert rows() == [] and queued == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "javascript:x"])
def test_a_stored_bad_url_is_not_queued_again(api, django_capture_on_commit_callbacks, url):
    # Rows may hold anything (written with a status, or by an older version).
    monitor = make_monitor(url=url, status="HTTP Error: Not Found")
    before = rows()
    with django_capture_on_commit_callbacks() as queued:
        assert_refused(api.post({}, f"{API}{monitor.pk}/download/"), "url")
    assert rows() == before and queued == []


@pytest.mark.parametrize("url", ["http://example.com/a.zip", "HTTPS://Example.COM:8443/a"])
def test_http_and_https_are_queued(api, django_capture_on_commit_callbacks, url):
    with django_capture_on_commit_callbacks() as queued:
        assert api.post({"url": url}).status_code == 201
    assert len(queued) == 1 and FileMonitor.objects.get().status == "Queued"


@pytest.fixture
def block_private(settings):
    settings.FILEMONITOR_BLOCK_PRIVATE_NETWORKS = True


@pytest.mark.parametrize("url", BLOCKED)
def test_blocked_addresses_are_refused_at_post(
    api, block_private, file_server, django_capture_on_commit_callbacks, url
):
    url = url.format(port=file_server.port)
    seen = len(file_server.requests)
    with django_capture_on_commit_callbacks() as queued:
        error = assert_refused(api.post({"url": url, "tags": "t"}), "url", "may not use")
        assert_refused(api.put({"url": url}, detail_url(4242)), "url")
    assert "s3cr3t" not in error
    assert rows() == [] and queued == []
    assert len(file_server.requests) == seen  # resolution only: nothing was sent


def test_a_blocked_retry_is_refused(api, block_private, django_capture_on_commit_callbacks):
    monitor = make_monitor(url="http://10.1.2.3/x.zip", status="Connection Error")
    before = rows()
    with django_capture_on_commit_callbacks() as queued:
        assert_refused(api.post({}, f"{API}{monitor.pk}/download/"), "may not use")
    assert rows() == before and queued == []


@pytest.fixture
def fake_dns(monkeypatch):
    """Public-looking names answered by a hostile DNS: {name: address}."""
    answers = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        return real(answers.get(host, host), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_a_public_name_resolving_to_loopback_is_refused(api, block_private, fake_dns):
    fake_dns["downloads.example.org"] = "127.0.0.1"
    assert_refused(api.post({"url": "http://downloads.example.org/x.zip"}), "127.0.0.1")
    assert rows() == []


def test_a_public_name_resolving_to_a_public_address_is_queued(
    api, block_private, fake_dns, django_capture_on_commit_callbacks
):
    fake_dns["downloads.example.org"] = "93.184.216.34"
    with django_capture_on_commit_callbacks() as queued:
        assert api.post({"url": "http://downloads.example.org/x.zip"}).status_code == 201
    assert len(queued) == 1  # captured, never run: no traffic


def test_without_the_setting_loopback_is_allowed(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        assert api.post({"url": "http://127.0.0.1:1/x"}).status_code == 201


def test_blocked_address_has_its_own_status():
    assert status_for_error(BlockedAddress("http://x/", "no")) == "Error: blocked address"


def test_the_worker_task_blocks_with_the_setting_on(settings, block_private, tmp_path, file_server):
    """The task itself passes the guard to the engine: DNS rebinding after the POST check
    (here: a row queued while the setting was off) still ends blocked, with no request."""
    settings.FILEMONITOR_ROOT = tmp_path / "root"
    path = f"/security/rebound-{uuid.uuid4().hex}.bin"
    file_server.add(path, size=1000)
    monitor = make_monitor(url=file_server.url(path), status="")
    result = download_something.apply(
        kwargs={"url": monitor.url, "download_monitor_pk": monitor.pk}
    ).get()
    assert result == (None, monitor.pk)
    monitor.refresh_from_db()
    assert monitor.status == "Error: blocked address"
    assert monitor.local_dir == "" and list((tmp_path / "root").iterdir()) == []
    assert file_server.count(path) == 0
