"""End to end: the REST API, a real Celery worker, a real HTTP server on 127.0.0.1."""

import json
import os
import signal
from pathlib import Path

import pytest
from django.conf import settings

from filemonitor.models import FileMonitor
from tests.conftest import API, poll

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024


def post_download(client, auth, url, **fields):
    response = client.post(
        API, data=json.dumps({"url": url, **fields}), content_type="application/json", **auth
    )
    assert response.status_code == 201, response.content
    return int(response["Location"].rstrip("/").rsplit("/", 1)[1])


def get_row(client, auth, pk):
    response = client.get(f"{API}{pk}/", **auth)
    return response.json() if response.status_code == 200 else None


def wait_status(client, auth, pk, *statuses, timeout=60):
    return poll(
        lambda: (row := get_row(client, auth, pk)) and row["status"] in statuses and row,
        timeout=timeout,
        message=f"row {pk} to reach {statuses}",
    )


def test_post_downloads_to_complete_with_md5(client, admin_auth, celery_worker, file_server):
    """A POSTed URL ends Complete, with the file's md5, size and progress as strings."""
    resource = file_server.add("/e2e/plain.bin", size=3 * MiB + 5, seed=11)
    pk = post_download(client, admin_auth, file_server.url("/e2e/plain.bin"), tags="reference")

    row = wait_status(client, admin_auth, pk, "Complete", "Connection Lost")
    assert row["status"] == "Complete"
    assert row["md5sum"] == resource.md5
    assert row["size"] == row["progress"] == str(3 * MiB + 5)
    assert row["name"] == "plain.bin"
    path = Path(row["local_dir"]) / row["name"]
    assert path.is_relative_to(Path(settings.FILEMONITOR_ROOT).resolve())
    assert path.stat().st_size == 3 * MiB + 5
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert oct(path.parent.stat().st_mode & 0o777) == oct(0o755)
    assert sorted(os.listdir(path.parent)) == ["plain.bin"]


def test_failed_download_has_clear_status_and_no_files(
    client, admin_auth, celery_worker, file_server
):
    """A 404 ends as 'HTTP Error: Not Found', with its folder removed."""
    pk = post_download(client, admin_auth, file_server.url("/e2e/missing.bin"))
    row = wait_status(client, admin_auth, pk, "HTTP Error: Not Found", "Complete")
    assert row["status"] == "HTTP Error: Not Found"
    assert row["local_dir"] == ""
    assert row["md5sum"] is None


def test_preset_md5_mismatch_is_an_error(client, admin_auth, celery_worker, file_server):
    """A preset md5sum that the bytes do not match ends in the legacy mismatch status."""
    file_server.add("/e2e/mismatch.bin", size=MiB, seed=12)
    pk = post_download(client, admin_auth, file_server.url("/e2e/mismatch.bin"), md5sum="0" * 32)
    row = wait_status(client, admin_auth, pk, "Error: identity hash mismatch", "Complete")
    assert row["status"] == "Error: identity hash mismatch"
    assert row["local_dir"] == ""


def test_patch_of_tags_during_download_survives(client, admin_auth, celery_worker, file_server):
    """Progress writes never overwrite a field that a client PATCHed meanwhile."""
    resource = file_server.add("/e2e/slow-patch.bin", size=4 * MiB, seed=13, throttle=2 * MiB)
    pk = post_download(client, admin_auth, file_server.url("/e2e/slow-patch.bin"), tags="before")
    poll(
        lambda: (
            (row := get_row(client, admin_auth, pk))
            and row["status"] == "Downloading"
            and int(row["progress"]) > 0
        ),
        message="the download to make progress",
    )
    response = client.patch(
        f"{API}{pk}/", data=json.dumps({"tags": "after"}), content_type="application/json",
        **admin_auth,
    )  # fmt: skip
    assert response.status_code == 202
    row = wait_status(client, admin_auth, pk, "Complete", "Connection Lost")
    assert row["status"] == "Complete"
    assert row["tags"] == "after"
    assert row["md5sum"] == resource.md5


def test_delete_mid_download_stops_it_and_removes_files(
    client, admin_auth, celery_worker, file_server
):
    """DELETE cancels the running download, removes its folder and no row comes back."""
    file_server.add("/e2e/slow-delete.bin", size=64 * MiB, seed=14, throttle=MiB)
    pk = post_download(client, admin_auth, file_server.url("/e2e/slow-delete.bin"))
    row = poll(
        lambda: (row := get_row(client, admin_auth, pk)) and int(row["progress"]) > 0 and row,
        message="the download to make progress",
    )
    folder = Path(row["local_dir"])
    assert folder.is_dir()

    assert client.delete(f"{API}{pk}/", **admin_auth).status_code == 204
    poll(lambda: not folder.exists(), message="the folder to be removed")
    poll(
        lambda: file_server.open_connections("/e2e/slow-delete.bin") == 0,
        message="the worker to stop reading",
    )
    assert not FileMonitor.objects.filter(pk=pk).exists()
    assert not folder.exists()


def test_worker_killed_mid_download_is_redelivered_and_completes(
    client, admin_auth, celery_worker, file_server
):
    """SIGKILL of the process running a download: redelivered, resumed, right md5."""
    resource = file_server.add("/e2e/killed.bin", size=16 * MiB, seed=15, throttle=4 * MiB)
    pk = post_download(client, admin_auth, file_server.url("/e2e/killed.bin"))
    poll(
        lambda: (row := get_row(client, admin_auth, pk)) and int(row["progress"]) > 0,
        message="the download to make progress",
    )
    busy = _child_holding_download(celery_worker, pk)
    os.kill(busy, signal.SIGKILL)

    row = wait_status(client, admin_auth, pk, "Complete", "Connection Lost", timeout=120)
    assert row["status"] == "Complete"
    assert row["md5sum"] == resource.md5
    assert row["progress"] == row["size"] == str(16 * MiB)
    assert FileMonitor.objects.filter(url=row["url"]).count() == 1
    assert sorted(os.listdir(row["local_dir"])) == ["killed.bin"]


def _child_holding_download(worker, pk):
    """The pool process that has the row's folder open (its flock holder)."""
    folder = FileMonitor.objects.get(pk=pk).local_dir

    def holder():
        for pid in worker.child_pids():
            fd_dir = Path(f"/proc/{pid}/fd")
            try:
                targets = {os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)}
            except OSError:
                continue
            if folder in targets:
                return pid
        return None

    return poll(holder, message="the pool process holding the download folder")


def test_credentials_in_url_are_used_but_never_shown(
    client, admin_auth, celery_worker, file_server
):
    """Basic auth from the URL reaches the source; the API and worker log never show it."""
    resource = file_server.add("/e2e/private.bin", size=MiB, seed=17, auth=("alice", "s3cr3t-pw"))
    url = file_server.url("/e2e/private.bin", userinfo="alice:s3cr3t-pw")
    pk = post_download(client, admin_auth, url)

    row = wait_status(client, admin_auth, pk, "Complete", "HTTP Error: Unauthorized")
    assert row["status"] == "Complete"
    assert row["md5sum"] == resource.md5
    listing = client.get(API, **admin_auth).content.decode()
    assert "s3cr3t-pw" not in listing and "alice" not in listing
    assert "s3cr3t-pw" not in celery_worker.log_path.read_text(errors="replace")
