"""The API writes and deletes only inside FILEMONITOR_ROOT, and only plain file names."""

import pytest

from filemonitor.models import FileMonitor
from tests.api.conftest import JsonClient, detail_url, make_monitor, rows
from tests.conftest import API

pytestmark = pytest.mark.django_db

VALID = {"url": "http://example.com/files/d.zip", "status": "Complete"}
BAD_NAMES = ["../x", "a/b", "/etc/passwd", "a\\b", "a\x01b", "tab\there", "..", ".", "é" * 150,
             "evil\u202etxt.exe", " padded"]  # fmt: skip


@pytest.fixture
def outside(tmp_path):
    """A folder, with a file, that is not inside the download root."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    return folder


def download_dir(root, name="dl-1", content=b"data"):
    """A download folder inside the root holding one file."""
    folder = root / name
    folder.mkdir()
    (folder / "file.zip").write_bytes(content)
    return folder


@pytest.fixture
def link(download_root, outside):
    """A symlink inside the root that points outside it."""
    path = download_root / "link"
    path.symlink_to(outside, target_is_directory=True)
    return path


#: Ways out of the root, each built from (root, outside folder, symlink to outside).
ESCAPES = {
    "etc": lambda root, out, link: "/etc",
    "tmp": lambda root, out, link: "/tmp",
    "outside": lambda root, out, link: str(out),
    "root-itself": lambda root, out, link: str(root),
    "dotdot": lambda root, out, link: f"{root}/../outside",
    "deep-dotdot": lambda root, out, link: f"{root}/sub/../../outside",
    "symlink": lambda root, out, link: str(link),
    "under-symlink": lambda root, out, link: f"{link}/deeper",
    "relative": lambda root, out, link: "relative/dir",
}


@pytest.mark.parametrize("escape", ESCAPES)
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_local_dir_outside_the_root_is_400(api, download_root, outside, link, method, escape):
    target = make_monitor()
    before = rows()
    body = {**VALID, "local_dir": ESCAPES[escape](download_root, outside, link)}
    path = API if method == "post" else detail_url(target.pk)
    response = getattr(api, method)(body, path)
    assert response.status_code == 400
    assert "local_dir" in response.json()["error"]
    assert rows() == before


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_name_must_be_a_plain_file_name(api, method, name):
    target = make_monitor()
    before = rows()
    path = API if method == "post" else detail_url(target.pk)
    response = getattr(api, method)({**VALID, "name": name}, path)
    assert response.status_code == 400
    assert "name" in response.json()["error"]
    assert rows() == before


def test_local_dir_inside_the_root_and_a_plain_name_are_accepted(api, download_root):
    folder = download_root / "tmpAbc123"
    folder.mkdir()
    response = api.post({**VALID, "local_dir": str(folder), "name": "GRCh38 p2 (mask1).zip"})
    assert response.status_code == 201
    assert FileMonitor.objects.get().full_path() == str(folder / "GRCh38 p2 (mask1).zip")


def test_delete_removes_the_folder_inside_the_root(
    api, download_root, django_capture_on_commit_callbacks
):
    folder = download_dir(download_root)
    monitor = make_monitor(local_dir=str(folder), name="file.zip")
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(detail_url(monitor.pk)).status_code == 204
    assert not folder.exists() and download_root.exists()


@pytest.mark.parametrize("escape", ["outside", "root-itself", "dotdot", "symlink", "under-symlink"])
def test_delete_never_touches_anything_outside_the_root(
    api, download_root, outside, link, django_capture_on_commit_callbacks, escape
):
    # Rows like these can only come from the database itself (or an older version).
    monitor = make_monitor(local_dir=ESCAPES[escape](download_root, outside, link))
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(detail_url(monitor.pk)).status_code == 204
    assert (outside / "precious.txt").read_text() == "keep me"
    assert download_root.is_dir() and link.is_symlink()
    assert not FileMonitor.objects.exists()


def test_delete_list_cleans_only_the_filtered_rows(
    api, download_root, django_capture_on_commit_callbacks
):
    doomed = [download_dir(download_root, f"bed-{i}") for i in range(2)]
    kept = download_dir(download_root, "ref")
    for folder in doomed:
        make_monitor(local_dir=str(folder), tags="bedfile")
    survivor = make_monitor(local_dir=str(kept), tags="reference")
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"{API}?tags=bedfile").status_code == 204
    assert not any(folder.exists() for folder in doomed)
    assert (kept / "file.zip").exists()
    assert list(FileMonitor.objects.values_list("id", flat=True)) == [survivor.pk]


def test_patch_list_delete_cleans_the_folder(
    api, download_root, django_capture_on_commit_callbacks
):
    folder = download_dir(download_root)
    monitor = make_monitor(local_dir=str(folder))
    with django_capture_on_commit_callbacks(execute=True):
        api.patch({"objects": [], "deleted_objects": [detail_url(monitor.pk)]})
    assert not folder.exists()


def test_failed_delete_removes_no_folder(
    client, reader_auth, download_root, django_capture_on_commit_callbacks
):
    folder = download_dir(download_root)
    monitor = make_monitor(local_dir=str(folder))
    with django_capture_on_commit_callbacks(execute=True):
        assert JsonClient(client, reader_auth).delete(detail_url(monitor.pk)).status_code == 401
    assert (folder / "file.zip").exists()
