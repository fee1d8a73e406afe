"""API keys and passwords never appear in responses or logs: Django's (every logger, at
DEBUG, with and without DEBUG mode), the worker's, and gunicorn's access and error logs
(which log the request line, query string included, and the Referer).
"""

import base64
import json
import logging
import uuid

import pytest
import requests
from django.conf import global_settings
from tastypie.models import ApiKey

from filemonitor.models import FileMonitor
from tests.conftest import API, basic_auth, make_user, poll, worker_env
from tests.load.gunicorn import Gunicorn

WRONG_PASSWORD = "wrong-pw-5d1e9c"
WRONG_KEY = "feedfacefeedfacefeedfacefeedfacefeedface"
URL_PASSWORD = "url-pw-0b7c44"


@pytest.fixture
def boss(db):
    user = make_user("boss", superuser=True)
    return user, ApiKey.objects.get(user=user).key


def secrets_of(key):
    token = base64.b64encode(b"boss:pw-boss").decode()
    return [key, WRONG_KEY, "pw-boss", WRONG_PASSWORD, URL_PASSWORD, token]


def logged_text(caplog):
    lines = [caplog.text]
    for record in caplog.records:
        lines += [record.getMessage(), record.exc_text or "", repr(record.__dict__.get("args"))]
    return "\n".join(lines)


def assert_absent(secrets, text, where):
    for secret in secrets:
        assert secret not in text, f"{secret!r} in {where}"


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_requests_log_no_secret(client, boss, settings, caplog, debug):
    settings.DEBUG = debug  # debug: Django logs every SQL statement with its parameters
    _, key = boss
    caplog.set_level(logging.DEBUG)
    query = f"username=boss&api_key={key}"
    wrong_query = f"username=boss&api_key={WRONG_KEY}"
    body = json.dumps({"url": f"http://alice:{URL_PASSWORD}@example.com/x.zip", "status": ""})
    calls = [
        (client.get, (API,), basic_auth("boss", "pw-boss"), 200),
        (client.get, (API,), basic_auth("boss", WRONG_PASSWORD), 401),
        (client.get, (API,), {"HTTP_AUTHORIZATION": f"ApiKey boss:{key}"}, 200),
        (client.get, (API,), {"HTTP_AUTHORIZATION": f"ApiKey boss:{WRONG_KEY}"}, 401),
        (client.get, (f"{API}?{query}",), {}, 200),
        (client.get, (f"{API}?{wrong_query}",), {}, 401),
        (client.get, (f"{API}99999/?{query}",), {}, 404),
        (client.get, (f"{API}?{query}&limit=x",), {}, 400),
        (client.delete, (f"{API}?{wrong_query}",), {}, 401),
        (client.post, (f"{API}?{query}", body, "application/json"), {}, 201),
        (client.post, (f"{API}?{query}", "{bad json", "application/json"), {}, 400),
    ]
    seen = []
    for method, args, headers, status in calls:
        response = method(*args, **headers)
        assert response.status_code == status, (args, response.content)
        seen.append(response.content.decode(errors="replace") + repr(dict(response.items())))
        seen.append(client.get(f"{API}?{query}").content.decode())
    assert "Unauthorized" in caplog.text  # Django did log the refusals
    assert_absent(secrets_of(key), logged_text(caplog), "the logs")
    assert_absent(secrets_of(key), "\n".join(seen), "a response")
    stored = repr(list(FileMonitor.objects.values()))
    assert URL_PASSWORD not in stored and "alice" not in stored


@pytest.mark.parametrize("logger", ["django.server", "gunicorn.access", "django.request"])
def test_request_lines_are_redacted(caplog, logger):
    """Loggers that print request lines (runserver, gunicorn) redact keys and passwords."""
    caplog.set_level(logging.INFO)
    line = f"GET {API}?username=boss&api_key={WRONG_KEY}&password={WRONG_PASSWORD} HTTP/1.1"
    logging.getLogger(logger).info('"%s" %s %s', line, 401, 0)
    logging.getLogger(logger).warning("Authorization: ApiKey boss:%s", WRONG_KEY)
    text = logged_text(caplog)
    assert "api_key=***" in text and "username=boss" in text
    assert_absent([WRONG_KEY, WRONG_PASSWORD], text, logger)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_download_with_url_credentials_logs_no_secret(
    client, boss, celery_worker, file_server, caplog
):
    _, key = boss
    caplog.set_level(logging.DEBUG)
    path = f"/security/private-{uuid.uuid4().hex}.bin"
    resource = file_server.add(path, size=100_000, auth=("alice", URL_PASSWORD))
    url = file_server.url(path, userinfo=f"alice:{URL_PASSWORD}")
    response = client.post(
        f"{API}?username=boss&api_key={key}", json.dumps({"url": url}),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    pk = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
    monitor = poll(
        lambda: (row := FileMonitor.objects.get(pk=pk)).status not in ("Queued", "Starting",
                                                                       "Downloading") and row,
        timeout=60, message="the download to finish",
    )  # fmt: skip
    assert monitor.status == "Complete" and monitor.md5sum == resource.md5
    listing = client.get(f"{API}{pk}/", **basic_auth("boss", "pw-boss")).content.decode()
    worker_log = celery_worker.log_path.read_text(errors="replace")
    for where, text in [("the API", listing), ("the worker log", worker_log),
                        ("the test process logs", logged_text(caplog))]:  # fmt: skip
        assert_absent(secrets_of(key), text, where)


@pytest.mark.django_db(transaction=True)
def test_gunicorn_logs_no_secret(settings, tmp_path):
    """gunicorn's default access log format prints the request line and the Referer."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # what gunicorn checks with
    key = ApiKey.objects.get(user=make_user("boss", superuser=True)).key
    with Gunicorn(worker_env(), tmp_path, workers=1, threads=2) as server:
        api = server.url(API)
        referer = f"http://127.0.0.1/rundb/filemonitor/?username=boss&api_key={key}"
        answers = [
            requests.get(f"{api}?username=boss&api_key={key}", timeout=30),
            requests.get(f"{api}?format=json&api_key={WRONG_KEY}&username=boss", timeout=30),
            requests.get(api, auth=("boss", "pw-boss"), headers={"Referer": referer}, timeout=30),
            requests.get(api, auth=("boss", WRONG_PASSWORD), timeout=30),
            requests.delete(f"{api}?username=boss&api_key={WRONG_KEY}", timeout=30),
        ]
    assert [answer.status_code for answer in answers] == [200, 401, 200, 401, 401]
    access = server.access_log.read_text()
    assert access.count(API) >= len(answers)  # every request was logged...
    assert "api_key=***" in access
    # ... and no secret was.
    assert_absent(secrets_of(key), access, "gunicorn's access log")
    assert_absent(secrets_of(key), server.error_log.read_text(), "gunicorn's error log")
