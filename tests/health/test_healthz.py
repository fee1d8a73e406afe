"""``GET /healthz``: 200 when the database and the broker answer, 503 naming what does not."""

import time
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import override_settings

pytestmark = pytest.mark.django_db

# Nothing listens on port 1 of 127.0.0.1: a connection there is refused at once.
CLOSED_BROKER = "redis://:s3cret-broker-pw@127.0.0.1:1/0"


def test_ok_without_authentication(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_head_is_allowed_and_writes_are_not(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_broker_down_is_503_naming_the_broker_without_its_password(client):
    with override_settings(CELERY_BROKER_URL=CLOSED_BROKER):
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error: ")
    assert len(body["broker"]) <= len("error: ") + 120
    assert "s3cret-broker-pw" not in response.content.decode()
    assert elapsed < 10, f"a refused broker must be reported quickly, took {elapsed:.1f}s"


def test_broker_check_reads_settings_at_call_time(client):
    """After the override ends, the real broker is checked again (nothing was cached)."""
    with override_settings(CELERY_BROKER_URL=CLOSED_BROKER):
        assert client.get("/healthz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_database_down_is_503_naming_the_database(client, settings):
    # A real outage cannot be staged here: the test database is the connection that
    # pytest-django holds open inside this test's transaction (and PostgreSQL is shared
    # with the rest of the suite), so stopping or redirecting it would break the run.
    # The cursor is made to fail the way a lost server makes it fail instead.
    failure = OperationalError(
        'connection to server at "db" failed: password db-pw-123 rejected for '
        "postgres://filemonitor:db-pw-123@db:5432/filemonitor\nsecond line"
    )
    password = mock.patch.dict(settings.DATABASES["default"], {"PASSWORD": "db-pw-123"})
    with password, mock.patch("rundb.health.connections") as connections:
        connections.__getitem__.return_value.cursor.side_effect = failure
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["broker"] == "ok"
    assert body["database"].startswith("error: OperationalError: connection to server")
    assert "db-pw-123" not in response.content.decode()
    assert "second line" not in body["database"]
