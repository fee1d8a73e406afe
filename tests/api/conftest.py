"""Helpers for the API tests: a JSON client, row factories and the published spec."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from filemonitor.models import FileMonitor
from tests.conftest import API

#: The published reference page; the folder ``shared`` is a sibling of the repository.
SPEC_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "spec"
SPEC_RST = SPEC_DIR / "filemonitor-resource.rst"

#: The model fields, i.e. what Torrent Suite allowed filtering and ordering on.
MODEL_FIELDS = (
    "celery_task_id", "created", "id", "local_dir", "md5sum", "name",
    "progress", "size", "status", "tags", "updated", "url",
)  # fmt: skip


def detail_url(pk):
    return f"{API}{pk}/"


class JsonClient:
    """Django's test client speaking JSON to the filemonitor resource with fixed credentials.

    ``body`` may be a dict or list (sent as JSON) or a str/bytes (sent as is).
    Every method returns the Django response; ``.json()`` parses it.
    """

    def __init__(self, client, auth):
        self.client, self.auth = client, auth

    def get(self, path=API, params=None, **extra):
        return self.client.get(path, params or {}, **{**self.auth, **extra})

    def post(self, body, path=API, **extra):
        return self._send(self.client.post, path, body, extra)

    def put(self, body, path=API, **extra):
        return self._send(self.client.put, path, body, extra)

    def patch(self, body, path=API, **extra):
        return self._send(self.client.patch, path, body, extra)

    def delete(self, path=API, **extra):
        return self.client.delete(path, **{**self.auth, **extra})

    def objects(self, params=None):
        """The ``objects`` of a list GET, asserting it succeeded."""
        response = self.get(API, params)
        assert response.status_code == 200, response.content
        return response.json()["objects"]

    def _send(self, method, path, body, extra):
        content_type = extra.pop("content_type", "application/json")
        if not isinstance(body, str | bytes):
            body = json.dumps(body)
        return method(path, body, content_type=content_type, **{**self.auth, **extra})


@pytest.fixture
def api(client, admin_auth):
    """A JSON client authenticated as a superuser (HTTP Basic)."""
    return JsonClient(client, admin_auth)


@pytest.fixture(autouse=True)
def _cheap_passwords_and_own_root(fast_passwords, download_root):
    """Every API test: fast password hashing and its own empty FILEMONITOR_ROOT."""


def make_monitor(**fields):
    """Insert a row directly (no API, no download): a finished download by default."""
    values = {"url": "http://example.com/files/a.zip", "status": "Complete"}
    values.update(fields)
    return FileMonitor.objects.create(**values)


def rows():
    """Every row as a dict, in id order: compare before/after to prove nothing changed."""
    return list(FileMonitor.objects.order_by("id").values())


def set_times(monitor, created, updated=None):
    """Give a row fixed timestamps (auto_now fields can only be set by an update)."""
    FileMonitor.objects.filter(pk=monitor.pk).update(created=created, updated=updated or created)


def utc(*args, **kwargs):
    return datetime(*args, tzinfo=UTC, **kwargs)


@pytest.fixture
def varied_rows(db):
    """Six rows whose every field is distinct (no ties when ordering), two nulls apart."""
    base = utc(2021, 3, 4, 5, 6, 7, 123456)
    made = []
    for i in range(6):
        monitor = make_monitor(
            url=f"http://host{i % 2}.example.com/dir/File{i}.{'zip' if i % 2 else 'bed'}",
            local_dir=f"/results/referenceLibrary/temp/tmp{i}",
            name=f"File{i}.{'zip' if i % 2 else 'bed'}",
            size=None if i == 5 else 1000 * (i + 1),
            progress=10 * i,
            status=["Complete", "Downloading", "Queued", "HTTP Error: 404", "Starting", ""][i],
            celery_task_id=f"task-{i}",
            md5sum=None if i == 4 else "abcdef"[i] * 32,
            tags=["reference", "bedfile", "annotation", "upload,report/7/", "generate_csa", "x"][i],
        )
        set_times(monitor, base + timedelta(days=75 * i, hours=i), base + timedelta(days=90 * i))
        made.append(monitor)
    return [FileMonitor.objects.get(pk=m.pk) for m in made]
