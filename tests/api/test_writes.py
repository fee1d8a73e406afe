"""Writing: POST, PUT, PATCH and DELETE on list and detail, and what each answers."""

import time
import uuid
from datetime import datetime

import pytest

from filemonitor import downloads
from filemonitor.models import FileMonitor
from tests.api.conftest import JsonClient, detail_url, make_monitor, rows
from tests.conftest import API

pytestmark = pytest.mark.django_db

NEW_ROW = {"url": "http://ionupdates.com/reference_downloads/hg19.zip", "status": "Complete",
           "tags": "reference", "size": "100", "progress": 100}  # fmt: skip


def test_post_is_201_empty_with_absolute_location(api):
    response = api.post(NEW_ROW)
    assert response.status_code == 201
    assert response.content == b""
    monitor = FileMonitor.objects.get()
    assert response["Location"] == f"http://testserver{detail_url(monitor.pk)}"
    assert (monitor.size, monitor.progress, monitor.tags) == (100, 100, "reference")


def test_posted_row_reads_back(api):
    location = api.post({**NEW_ROW, "md5sum": "D41D8CD98F00B204E9800998ECF8427E"})["Location"]
    body = api.get(location).json()
    assert body["url"] == NEW_ROW["url"] and body["size"] == "100" and body["progress"] == "100"
    assert body["md5sum"] == "d41d8cd98f00b204e9800998ecf8427e"
    assert body["local_dir"] == "" and body["name"] == "" and body["celery_task_id"] == ""


def test_post_without_status_queues_a_download(
    api, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        "filemonitor.tasks.download_something.apply_async", lambda **kw: sent.append(kw)
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post({"url": "http://example.com/data/file.zip", "tags": "bedfile"})
    assert response.status_code == 201
    monitor = FileMonitor.objects.get()
    assert monitor.status == "Queued"
    assert str(uuid.UUID(monitor.celery_task_id)) == monitor.celery_task_id
    assert len(sent) == 1 and sent[0]["task_id"] == monitor.celery_task_id
    assert sent[0]["kwargs"]["download_monitor_pk"] == monitor.pk


@pytest.mark.parametrize("status", ["Complete", "Queued", "Downloading", "HTTP Error: 404"])
def test_post_with_a_status_queues_nothing(api, django_capture_on_commit_callbacks, status):
    with django_capture_on_commit_callbacks() as callbacks:
        assert api.post({**NEW_ROW, "status": status}).status_code == 201
    assert callbacks == []
    assert FileMonitor.objects.get().status == status


@pytest.mark.parametrize("status", [None, ""])
def test_post_queues_only_downloadable_urls(api, django_capture_on_commit_callbacks, status):
    body = {"url": "ftp://example.com/file.zip"} | ({} if status is None else {"status": status})
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(body)
    assert response.status_code == 400
    assert "http" in response.json()["error"]
    assert callbacks == [] and rows() == []


def test_credentials_in_the_url_are_never_shown(
    api, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        "filemonitor.tasks.download_something.apply_async", lambda **kw: sent.append(kw)
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post({"url": "http://alice:s%40cret@files.example.com/f.zip"})
    location = response["Location"]
    assert FileMonitor.objects.get().url == "http://files.example.com/f.zip"
    # The worker still gets them, decoded, to authenticate the download.
    assert sent[0]["kwargs"]["auth"] == ("alice", "s@cret")
    for text in (
        api.get(location).content,
        api.get(API).content,
        api.get(API, {"callback": "c"}).content,
    ):
        assert b"cret" not in text and b"alice" not in text


def test_credentials_are_dropped_from_rows_with_a_status(api):
    api.post({**NEW_ROW, "url": "https://bob:hunter2@example.com/x.bed"})
    assert FileMonitor.objects.get().url == "https://example.com/x.bed"


def test_put_detail_updates_with_204(api):
    monitor = make_monitor(tags="old")
    response = api.put({"url": "http://example.com/new.zip", "status": "Complete", "tags": "new"},
                       detail_url(monitor.pk))  # fmt: skip
    assert response.status_code == 204
    monitor.refresh_from_db()
    assert (monitor.url, monitor.tags) == ("http://example.com/new.zip", "new")


def test_put_detail_creates_with_201_and_the_sequence_moves_on(api):
    taken = make_monitor().pk + 1
    response = api.put({**NEW_ROW, "tags": "by-put"}, detail_url(taken))
    assert response.status_code == 201
    assert response["Location"] == f"http://testserver{detail_url(taken)}"
    assert FileMonitor.objects.get(pk=taken).tags == "by-put"
    # The id chosen by the client must not be handed out again by the database.
    assert api.post(NEW_ROW).status_code == 201
    assert FileMonitor.objects.count() == 3


def test_put_list_replaces_the_collection(api):
    make_monitor(tags="gone")
    response = api.put({"objects": [{**NEW_ROW, "tags": "a"}, {**NEW_ROW, "tags": "b"}]})
    assert response.status_code == 204
    assert sorted(FileMonitor.objects.values_list("tags", flat=True)) == ["a", "b"]


def test_put_list_that_fails_changes_nothing(api):
    make_monitor(tags="kept")
    before = rows()
    response = api.put({"objects": [{**NEW_ROW, "tags": "a"}, {**NEW_ROW, "size": "abc"}]})
    assert response.status_code == 400
    assert rows() == before


def test_patch_detail_is_202_and_moves_updated(api):
    monitor = make_monitor(status="Downloading", progress=5)
    FileMonitor.objects.filter(pk=monitor.pk).update(updated=monitor.created.replace(year=2001))
    response = api.patch({"progress": "50", "status": "Complete"}, detail_url(monitor.pk))
    assert response.status_code == 202
    after = FileMonitor.objects.get(pk=monitor.pk)
    assert (after.progress, after.status, after.url) == (50, "Complete", monitor.url)
    assert after.updated.year > 2001


def test_patch_leaves_other_fields_alone(api):
    monitor = make_monitor(tags="keep", size=7, md5sum="a" * 32)
    api.patch({"tags": "changed"}, detail_url(monitor.pk))
    after = FileMonitor.objects.get(pk=monitor.pk)
    assert (after.tags, after.size, after.md5sum, after.created) == (
        "changed", 7, "a" * 32, monitor.created,
    )  # fmt: skip


def test_patch_list_creates_updates_and_deletes(api):
    keep, change, drop = make_monitor(tags="keep"), make_monitor(tags="old"), make_monitor()
    body = {
        "objects": [
            {"resource_uri": detail_url(change.pk), "tags": "new"},
            {**NEW_ROW, "tags": "made"},
        ],
        "deleted_objects": [detail_url(drop.pk)],
    }
    assert api.patch(body).status_code == 202
    assert set(FileMonitor.objects.values_list("tags", flat=True)) == {"keep", "new", "made"}
    assert FileMonitor.objects.filter(pk=keep.pk).exists()


def test_patch_list_accepts_absolute_uris(api):
    monitor = make_monitor()
    body = {"objects": [], "deleted_objects": [f"http://testserver{detail_url(monitor.pk)}"]}
    assert api.patch(body).status_code == 202
    assert rows() == []


def test_patch_list_is_all_or_nothing(api):
    monitor = make_monitor(tags="old")
    before = rows()
    body = {"objects": [{"resource_uri": detail_url(monitor.pk), "tags": "new"},
                        {**NEW_ROW, "md5sum": "nothex"}], "deleted_objects": []}  # fmt: skip
    assert api.patch(body).status_code == 400
    assert rows() == before


def test_delete_detail_is_204(api):
    monitor, other = make_monitor(), make_monitor()
    assert api.delete(detail_url(monitor.pk)).status_code == 204
    assert list(FileMonitor.objects.values_list("id", flat=True)) == [other.pk]


@pytest.mark.parametrize(
    "call",
    [
        lambda api, path: api.get(path),
        lambda api, path: api.delete(path),
        lambda api, path: api.patch({"tags": "x"}, path),
    ],
    ids=["get", "delete", "patch"],
)
def test_missing_detail_is_404(api, call):
    make_monitor()
    before = rows()
    assert call(api, detail_url(987654)).status_code == 404
    assert rows() == before


def test_delete_list_with_a_filter(api):
    doomed = [make_monitor(tags="bedfile"), make_monitor(tags="bedfile")]
    kept = make_monitor(tags="reference")
    assert api.delete(f"{API}?tags=bedfile").status_code == 204
    assert list(FileMonitor.objects.values_list("id", flat=True)) == [kept.pk]
    assert all(not FileMonitor.objects.filter(pk=m.pk).exists() for m in doomed)


def test_delete_of_a_queued_row_revokes_its_task(api, monkeypatch):
    revoked = []
    monkeypatch.setattr(downloads, "cancel_task", revoked.append)
    monitor = make_monitor(status="Queued", celery_task_id="t-1")
    finished = make_monitor(status="Complete", celery_task_id="t-2")
    api.delete(detail_url(monitor.pk))
    api.delete(detail_url(finished.pk))
    assert revoked == ["t-1"]


def test_bad_delete_list_filter_deletes_nothing(api):
    make_monitor()
    assert api.delete(f"{API}?id=abc").status_code == 400
    assert FileMonitor.objects.count() == 1


def test_methods_on_schema_and_set_are_get_only(api):
    assert api.post({}, f"{API}schema/").status_code == 405
    assert api.delete(f"{API}set/1;2/").status_code == 405


def test_post_detail_is_not_implemented(api):
    monitor = make_monitor()
    assert api.post(NEW_ROW, detail_url(monitor.pk)).status_code == 501


def test_post_cannot_overwrite_an_existing_row(api):
    monitor = make_monitor(tags="mine")
    before = rows()
    response = api.post({**NEW_ROW, "id": monitor.pk})
    assert response.status_code == 400
    assert rows() == before


def test_created_is_set_by_the_server(api):
    before = time.time()
    location = api.post({**NEW_ROW, "created": "2001-01-01T00:00:00+00:00"})["Location"]
    created = datetime.fromisoformat(api.get(location).json()["created"])
    assert created.timestamp() >= before - 1


def test_method_override_header_is_a_real_write(api):
    monitor = make_monitor(tags="x")
    response = api.get(detail_url(monitor.pk), HTTP_X_HTTP_METHOD_OVERRIDE="DELETE")
    assert response.status_code == 204
    assert rows() == []


def test_method_override_cannot_sneak_past_permissions(client, reader_auth):
    monitor = make_monitor()
    reader = JsonClient(client, reader_auth)
    assert (
        reader.get(detail_url(monitor.pk), HTTP_X_HTTP_METHOD_OVERRIDE="DELETE").status_code == 401
    )
    assert rows()[0]["id"] == monitor.pk


# --- POST <id>/download/: queue a failed download again -----------------------------------


def download_url(pk):
    return f"{detail_url(pk)}download/"


@pytest.mark.parametrize("status", ["HTTP Error: 404", "Connection Error", "Error: cancelled", ""])
def test_failed_download_can_be_queued_again(api, status):
    monitor = make_monitor(status=status, size=10, progress=3)
    response = api.post({}, download_url(monitor.pk))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "Queued" and body["progress"] == "0" and body["size"] is None
    assert FileMonitor.objects.get(pk=monitor.pk).celery_task_id == body["celery_task_id"]


@pytest.mark.parametrize("status", ["Complete", "Queued", "Downloading"])
def test_running_or_finished_download_is_not_queued_again(api, status):
    monitor = make_monitor(status=status)
    before = rows()
    response = api.post({}, download_url(monitor.pk))
    assert response.status_code == 400 and "error" in response.json()
    assert rows() == before


def test_requeue_needs_the_change_permission(client, reader_auth):
    monitor = make_monitor(status="HTTP Error: 500")
    before = rows()
    assert JsonClient(client, reader_auth).post({}, download_url(monitor.pk)).status_code == 401
    assert rows() == before


def test_requeue_of_a_missing_row_is_404(api):
    assert api.post({}, download_url(424242)).status_code == 404
