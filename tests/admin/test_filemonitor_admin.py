"""The FileMonitor admin: changelist, filters, search, and the cancel/retry actions."""

import inspect
import json
import re
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth.models import User

from filemonitor.models import FileMonitor
from filemonitor.progress import ProgressWriter
from tests.conftest import API, basic_auth, poll

CHANGELIST = "/admin/filemonitor/filemonitor/"
MiB = 1024 * 1024


@pytest.fixture
def boss(client, db):
    user = User.objects.create_superuser("boss", password="pw-boss")
    client.force_login(user)
    return user


@pytest.fixture
def rows(db):
    return {
        "complete": FileMonitor.objects.create(
            url="http://example.org/hg19.zip", name="hg19.zip", tags="reference",
            status="Complete", size=2000, progress=2000, celery_task_id="t-complete",
        ),
        "running": FileMonitor.objects.create(
            url="http://example.org/big.bam", name="big.bam", tags="upload",
            status="Downloading", size=4000, progress=1000, celery_task_id="t-running",
        ),
        "queued": FileMonitor.objects.create(
            url="http://example.org/q.bed", tags="bedfile", status="Queued",
            celery_task_id="t-queued",
        ),
        "failed": FileMonitor.objects.create(
            url="http://example.org/gone.bed", tags="bedfile", status="HTTP Error: Not Found",
            celery_task_id="t-failed",
        ),
    }  # fmt: skip


def listed_ids(response):
    return {int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', response.text)}


def act(client, action, *monitors):
    data = {"action": action, "_selected_action": [str(m.pk) for m in monitors]}
    return client.post(CHANGELIST, data, follow=True)


def test_changelist_renders_columns_filters_and_search(client, boss, rows):
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    text = response.text
    assert listed_ids(response) == {row.pk for row in rows.values()}
    for header in ("Name", "Url", "Tags", "Status", "Progress", "Created"):
        assert f">{header}</a>" in text or f">{header}</span>" in text, header
    for title in ("By status", "By tags", "By created"):
        assert title in text, title
    assert 'name="q"' in text  # the search box
    assert "25.0%" in text and "100.0%" in text and "..." in text
    assert "Cancel the selected downloads" in text and "Retry the selected downloads" in text


def test_search_on_url_name_and_tags(client, boss, rows):
    assert listed_ids(client.get(CHANGELIST, {"q": "bedfile"})) == {
        rows["queued"].pk,
        rows["failed"].pk,
    }
    assert listed_ids(client.get(CHANGELIST, {"q": "hg19"})) == {rows["complete"].pk}
    assert listed_ids(client.get(CHANGELIST, {"q": "big.bam"})) == {rows["running"].pk}


def test_filters_by_status_and_tags(client, boss, rows):
    assert listed_ids(client.get(CHANGELIST, {"status": "Complete"})) == {rows["complete"].pk}
    assert listed_ids(client.get(CHANGELIST, {"tags": "upload"})) == {rows["running"].pk}


def test_retry_queues_a_failed_row_with_a_new_task_id(client, boss, rows, download_root):
    folder = download_root / "4-old"
    folder.mkdir()
    FileMonitor.objects.filter(pk=rows["failed"].pk).update(local_dir=str(folder))
    with mock.patch("filemonitor.tasks.download_something.apply_async") as send:
        response = act(client, "retry", rows["failed"], rows["complete"])
    assert response.status_code == 200
    failed = FileMonitor.objects.get(pk=rows["failed"].pk)
    assert failed.status == "Queued"
    assert failed.celery_task_id not in ("", "t-failed")
    assert failed.local_dir == "" and not folder.exists()
    # The message goes only when the transaction commits, which a test transaction never does.
    send.assert_not_called()
    assert FileMonitor.objects.get(pk=rows["complete"].pk).status == "Complete"
    assert "1 download queued again." in response.text
    assert "1 download left alone: not failed or cancelled." in response.text


def test_retry_sends_the_task_on_commit(client, boss, rows, django_capture_on_commit_callbacks):
    with (
        mock.patch("filemonitor.tasks.download_something.apply_async") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        act(client, "retry", rows["failed"])
    failed = FileMonitor.objects.get(pk=rows["failed"].pk)
    send.assert_called_once()
    assert send.call_args.kwargs["task_id"] == failed.celery_task_id
    assert send.call_args.kwargs["kwargs"]["download_monitor_pk"] == failed.pk


def test_cancel_marks_rows_and_revokes_their_tasks(
    client, boss, rows, django_capture_on_commit_callbacks
):
    with (
        mock.patch("rundb.celery.app.control.revoke") as revoke,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = act(client, "cancel", rows["queued"], rows["running"], rows["complete"])
    for key in ("queued", "running"):
        row = FileMonitor.objects.get(pk=rows[key].pk)
        assert (row.status, row.celery_task_id) == ("Error: cancelled", "")
    assert sorted(call.args[0] for call in revoke.call_args_list) == ["t-queued", "t-running"]
    complete = FileMonitor.objects.get(pk=rows["complete"].pk)
    assert (complete.status, complete.celery_task_id) == ("Complete", "t-complete")
    assert "2 downloads cancelled." in response.text
    assert "1 download left alone: not queued or running." in response.text


def test_a_cancelled_row_can_be_retried(client, boss, rows):
    act(client, "cancel", rows["queued"])
    with mock.patch("filemonitor.tasks.download_something.apply_async"):
        act(client, "retry", rows["queued"])
    row = FileMonitor.objects.get(pk=rows["queued"].pk)
    assert row.status == "Queued" and row.celery_task_id


def test_actions_need_the_change_permission(client, db, rows):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    for codename in ("view_filemonitor",):
        viewer.user_permissions.add(*_permissions(codename))
    client.force_login(viewer)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert "Cancel the selected downloads" not in response.text
    act(client, "cancel", rows["queued"])
    assert FileMonitor.objects.get(pk=rows["queued"].pk).status == "Queued"


def _permissions(codename):
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename=codename)


def test_change_form_edits_tags_only(client, boss, rows):
    url = f"{CHANGELIST}{rows['complete'].pk}/change/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"tags": "reference,hg19", "status": "Queued", "url": "x"})
    assert response.status_code == 302, response.text
    row = FileMonitor.objects.get(pk=rows["complete"].pk)
    assert (row.tags, row.status, row.url) == ("reference,hg19", "Complete", rows["complete"].url)


def test_no_add_form(client, boss):
    assert client.get(f"{CHANGELIST}add/").status_code == 403


def test_delete_removes_the_folder_too(
    client, boss, rows, download_root, django_capture_on_commit_callbacks
):
    folder = download_root / "1-done"
    folder.mkdir()
    (folder / "hg19.zip").write_bytes(b"x")
    FileMonitor.objects.filter(pk=rows["complete"].pk).update(local_dir=str(folder))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGELIST,
            {"action": "delete_selected", "_selected_action": [rows["complete"].pk], "post": "yes"},
        )
    assert response.status_code == 302
    assert not FileMonitor.objects.filter(pk=rows["complete"].pk).exists()
    assert not folder.exists()


_STOPS_ON_TASK_ID = "task_id" in inspect.signature(ProgressWriter.__init__).parameters


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not _STOPS_ON_TASK_ID,
    reason="ProgressWriter does not yet stop when its row's celery_task_id changes",
)
def test_cancel_stops_a_running_download_and_keeps_the_row(client, celery_worker, file_server):
    """End to end: the worker gives up the download and the row stays cancelled."""
    user = User.objects.create_superuser("boss", password="pw-boss")
    file_server.add("/admin/slow.bin", size=64 * MiB, seed=31, throttle=MiB)
    response = client.post(
        API, data=json.dumps({"url": file_server.url("/admin/slow.bin")}),
        content_type="application/json", **basic_auth("boss", "pw-boss"),
    )  # fmt: skip
    assert response.status_code == 201, response.content
    pk = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
    row = poll(
        lambda: (row := FileMonitor.objects.get(pk=pk)).progress > 0 and row,
        message="the download to make progress",
    )
    folder = Path(row.local_dir)
    client.force_login(user)
    assert "1 download cancelled." in act(client, "cancel", row).text

    poll(lambda: not folder.exists(), message="the worker to give up and remove its folder")
    row = FileMonitor.objects.get(pk=pk)
    assert (row.status, row.celery_task_id) == ("Error: cancelled", "")
    assert row.progress < 64 * MiB
