"""End to end (API, real worker, loopback file server): no file name, folder or symlink
makes a download write, or a failure delete, anything outside the download root.
"""

import json
import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from filemonitor import downloads
from filemonitor.models import FileMonitor
from tests.api.conftest import make_monitor
from tests.conftest import API, poll

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CONTENT = b"the bytes of a download\n" * 100


def root():
    return Path(settings.FILEMONITOR_ROOT).resolve()


def post(client, auth, **fields):
    response = client.post(API, json.dumps(fields), content_type="application/json", **auth)
    assert response.status_code == 201, response.content
    return int(response["Location"].rstrip("/").rsplit("/", 1)[1])


def wait_final(pk):
    def final():
        monitor = FileMonitor.objects.filter(pk=pk).first()
        done = monitor and monitor.status not in ("", "Queued", "Starting", "Downloading")
        return monitor if done else None

    return poll(final, timeout=60, message=f"row {pk} to finish")


def assert_inside_root(monitor):
    path = Path(monitor.local_dir, monitor.name).resolve()
    assert path.is_relative_to(root()) and path.parent != root()
    assert path.is_file() and not Path(monitor.local_dir, monitor.name).is_symlink()
    assert path.read_bytes() == CONTENT


def unique(stem):
    return f"{stem}-{uuid.uuid4().hex[:8]}"


#: Content-Disposition values that try to name a file outside the download folder,
#: with the name each must end up as ("{sentinel}" is a folder outside the root).
DISPOSITIONS = [
    ('attachment; filename="../../{tag}.txt"', "{tag}.txt"),
    ('attachment; filename="../../../../../../../../tmp/{tag}.txt"', "{tag}.txt"),
    ('attachment; filename="{sentinel}/{tag}.txt"', "{tag}.txt"),
    ("attachment; filename*=UTF-8''..%2F..%2F{tag}.txt", "{tag}.txt"),
    ('attachment; filename="..\\\\..\\\\{tag}.txt"', "{tag}.txt"),
    ('attachment; filename="{sentinel}/../{tag}\x00.txt"', "{tag}.txt"),
    ('attachment; filename=".."', "fallback.bin"),
    ('attachment; filename="/"', "fallback.bin"),
]


@pytest.mark.parametrize(("disposition", "expected"), DISPOSITIONS)
def test_content_disposition_cannot_escape(
    client, admin_auth, celery_worker, file_server, sentinel, disposition, expected
):
    tag = unique("escape")
    path = f"/security/{tag}/fallback.bin"
    header = disposition.format(tag=tag, sentinel=sentinel)
    file_server.add(path, CONTENT, content_disposition=header)
    pk = post(client, admin_auth, url=file_server.url(path))

    monitor = wait_final(pk)
    assert monitor.status == "Complete", monitor.status
    assert monitor.name == expected.format(tag=tag)
    assert_inside_root(monitor)
    assert list(sentinel.iterdir()) == []
    for parent in (root().parent, root().parent.parent, Path("/tmp")):
        assert not (parent / f"{tag}.txt").exists()


def test_a_url_path_cannot_escape(client, admin_auth, celery_worker, file_server, sentinel):
    tag = unique("urlescape")
    file_server.add(f"/security/../../{tag}.txt", CONTENT)  # the server unquotes the path
    pk = post(client, admin_auth, url=file_server.url(f"/security/..%2F..%2F{tag}.txt"))
    monitor = wait_final(pk)
    assert monitor.status == "Complete" and monitor.name == f"{tag}.txt"
    assert_inside_root(monitor)
    assert not (root().parent / f"{tag}.txt").exists()


def test_a_row_pointing_through_a_symlink_downloads_inside_the_root(
    client, admin_auth, celery_worker, file_server, sentinel
):
    """A row whose local_dir is a symlink out of the root (the API refuses to store one;
    an older version or the database itself may) gets a fresh folder inside the root."""
    link = root() / unique("link")
    link.symlink_to(sentinel, target_is_directory=True)
    response = client.post(
        API, json.dumps({"url": "http://example.com/x", "local_dir": str(link)}),
        content_type="application/json", **admin_auth,
    )  # fmt: skip
    assert response.status_code == 400 and "local_dir" in response.json()["error"]

    path = f"/security/{unique('linked')}.bin"
    file_server.add(path, CONTENT)
    monitor = make_monitor(url=file_server.url(path), local_dir=str(link), name="x.bin", status="")
    with transaction.atomic():
        downloads.queue_download(monitor)

    monitor = wait_final(monitor.pk)
    assert monitor.status == "Complete", monitor.status
    assert monitor.local_dir != str(link)
    assert_inside_root(monitor)
    assert list(sentinel.iterdir()) == [] and link.is_symlink()


#: A symlink planted in a download folder under the name the engine is about to use.
PLANTED = {
    "final-name": ("{name}", "Complete"),
    "final-name-to-a-folder": ("{name}", "Complete"),
    "part": ("{name}.part", "Error: disk write failed"),
    "part-meta": ("{name}.part.meta", "Error: disk write failed"),
}


@pytest.mark.parametrize("planted", PLANTED)
def test_a_planted_symlink_is_never_written_through(
    client, admin_auth, celery_worker, file_server, sentinel, victim, planted
):
    folder = root() / unique("planted")
    folder.mkdir()
    name = "data.bin"
    link_name, expected = PLANTED[planted]
    target = sentinel if planted == "final-name-to-a-folder" else victim
    (folder / link_name.format(name=name)).symlink_to(target)
    path = f"/security/{unique('planted')}.bin"
    file_server.add(path, CONTENT)

    pk = post(client, admin_auth, url=file_server.url(path), local_dir=str(folder), name=name)
    monitor = wait_final(pk)
    assert monitor.status == expected
    assert victim.read_text() == "keep me"
    assert list(sentinel.iterdir()) == []
    if expected == "Complete":
        assert_inside_root(monitor)
        assert os.listdir(folder) == [name]
    else:
        assert monitor.local_dir == "" and not folder.exists()  # removed, link and all
