"""FILEMONITOR_MAX_DOWNLOAD_SIZE, end to end: a worker started with a 1 MiB limit refuses
bigger files whether the server announces the length or streams it chunked, and leaves
no file, .part or folder behind.
"""

import json
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from filemonitor.models import FileMonitor
from tests.conftest import API, poll
from tests.faults.conftest import FaultWorker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MiB = 1 << 20
LIMIT = MiB
EXCEEDED = "Error: size limit exceeded"


@pytest.fixture(scope="module")
def limited_worker(django_db_setup, django_db_blocker):
    with FaultWorker("size-limit", env={"FILEMONITOR_MAX_DOWNLOAD_SIZE": str(LIMIT)}) as worker:
        yield worker


@pytest.fixture
def limited(limited_worker, route_downloads):
    route_downloads(limited_worker.queue)
    return limited_worker


def download(client, auth, file_server, size, chunked):
    path = f"/security/size-{uuid.uuid4().hex}.bin"
    resource = file_server.add(path, size=size, seed=size % 251, chunked=chunked)
    response = client.post(
        API, json.dumps({"url": file_server.url(path)}), content_type="application/json", **auth
    )
    assert response.status_code == 201, response.content
    pk = int(response["Location"].rstrip("/").rsplit("/", 1)[1])

    def final():
        monitor = FileMonitor.objects.get(pk=pk)
        return monitor if monitor.status not in ("Queued", "Starting", "Downloading") else None

    return poll(final, timeout=60, message=f"row {pk} to finish"), resource


def folders_of(pk):
    return sorted(Path(settings.FILEMONITOR_ROOT).glob(f"{pk}-*"))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT, 64 * LIMIT])
def test_over_the_limit_fails_and_leaves_nothing(
    client, admin_auth, limited, file_server, size, chunked
):
    monitor, _ = download(client, admin_auth, file_server, size, chunked)
    assert monitor.status == EXCEEDED
    assert monitor.local_dir == "" and monitor.md5sum is None
    assert folders_of(monitor.pk) == []
    # An announced length is refused on the headers, before any byte is written.
    assert monitor.progress <= (LIMIT if chunked else 0)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("size", [LIMIT, LIMIT - 1, 0])
def test_up_to_the_limit_completes(client, admin_auth, limited, file_server, size, chunked):
    monitor, resource = download(client, admin_auth, file_server, size, chunked)
    assert monitor.status == "Complete", monitor.status
    assert monitor.md5sum == resource.md5 and monitor.size == size
    assert folders_of(monitor.pk) == [Path(monitor.local_dir)]
