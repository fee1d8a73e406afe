"""Bad input is a 400 with a clear ``{"error": ...}`` and changes nothing.

The original answered several of these with a 500 (``"size": "abc"``, form bodies,
over-long strings...); every write method must refuse them the same way.
"""

import pytest

from tests.api.conftest import detail_url, make_monitor, rows
from tests.conftest import API

pytestmark = pytest.mark.django_db

VALID = {"url": "http://example.com/files/b.zip", "status": "Complete", "tags": "reference"}

#: (test id, fields merged over VALID, a word the error message must contain)
BAD_FIELDS = [
    ("size-abc", {"size": "abc"}, "size"),
    ("size-float", {"size": 1.5}, "size"),
    ("size-bool", {"size": True}, "size"),
    ("size-negative", {"size": "-1"}, "size"),
    ("size-list", {"size": [1]}, "size"),
    ("progress-negative", {"progress": -1}, "progress"),
    ("progress-null", {"progress": None}, "progress"),
    ("progress-huge", {"progress": "9" * 30}, "progress"),
    ("status-61", {"status": "s" * 61}, "status"),
    ("status-null", {"status": None}, "status"),
    ("status-nul-char", {"status": "Compl\x00ete"}, "status"),
    ("url-2001", {"url": "http://example.com/" + "u" * 1982}, "url"),
    ("url-null", {"url": None}, "url"),
    ("url-empty", {"url": ""}, "url"),
    ("url-list", {"url": ["http://example.com/"]}, "url"),
    # Short enough in characters, too long for a PostgreSQL index entry.
    ("url-wide-chars", {"url": "http://example.com/" + "\u4e00" * 1500}, "url"),
    ("tags-wide-chars", {"tags": "\u4e00" * 1000}, "tags"),
    ("name-256", {"name": "n" * 256}, "name"),
    ("name-null", {"name": None}, "name"),
    ("tags-1025", {"tags": "t" * 1025}, "tags"),
    ("tags-null", {"tags": None}, "tags"),
    ("tags-object", {"tags": {"a": 1}}, "tags"),
    ("local_dir-513", {"local_dir": "/" + "d" * 512}, "local_dir"),
    ("local_dir-null", {"local_dir": None}, "local_dir"),
    ("celery_task_id-61", {"celery_task_id": "c" * 61}, "celery_task_id"),
    ("celery_task_id-null", {"celery_task_id": None}, "celery_task_id"),
    ("md5sum-short", {"md5sum": "abc"}, "md5sum"),
    ("md5sum-not-hex", {"md5sum": "g" * 32}, "md5sum"),
    ("md5sum-33", {"md5sum": "a" * 33}, "md5sum"),
    ("created-garbage", {"created": "yesterday-ish"}, "created"),
    ("updated-number", {"updated": 12}, "updated"),
    ("id-text", {"id": "abc"}, "id"),
]

#: (test id, raw body, content type)
BAD_BODIES = [
    ("invalid-json", "{not json", "application/json"),
    ("empty", "", "application/json"),
    ("json-array", '[{"url": "http://example.com/a"}]', "application/json"),
    ("json-string", '"http://example.com/a"', "application/json"),
    ("json-null", "null", "application/json"),
    ("form", "url=http%3A%2F%2Fexample.com%2Fa&status=Complete",
     "application/x-www-form-urlencoded"),
    ("multipart", "--x\r\nContent-Disposition: form-data; name=url\r\n\r\nhttp://e/a\r\n--x--\r\n",
     "multipart/form-data; boundary=x"),
    ("text", '{"url": "http://example.com/a"}', "text/plain"),
    ("xml", "<object><url>http://example.com/a</url></object>", "application/xml"),
    ("not-utf8", b'{"url": "http://example.com/\xff"}', "application/json"),
    ("deep-nesting", "[" * 100_000, "application/json"),
    ("too-large", '{"tags": "' + "x" * 3_000_000 + '"}', "application/json"),
    ("broken-multipart", "garbage", "multipart/form-data; boundary=x"),
]  # fmt: skip

WRITES = {
    "post": lambda api, body, target, **kw: api.post(body, **kw),
    "put": lambda api, body, target, **kw: api.put(body, detail_url(target.pk), **kw),
    "patch": lambda api, body, target, **kw: api.patch(body, detail_url(target.pk), **kw),
}


@pytest.fixture
def target(db):
    """The existing row PUT and PATCH aim at."""
    return make_monitor(url="http://example.com/files/kept.zip", size=10, progress=3)


def assert_clear_400(response, word=None):
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    # Plain text: no HTML entities from tastypie's sanitize(), and names the culprit.
    assert "&#" not in body["error"] and "&amp;" not in body["error"]
    if word:
        assert word in body["error"]


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize(
    ("fields", "word"), [case[1:] for case in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS]
)
def test_bad_field_is_400_and_changes_nothing(
    api, target, django_capture_on_commit_callbacks, method, fields, word
):
    before = rows()
    with django_capture_on_commit_callbacks() as callbacks:
        response = WRITES[method](api, {**VALID, **fields}, target)
    assert_clear_400(response, word)
    assert rows() == before and callbacks == []


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize(
    ("body", "content_type"), [case[1:] for case in BAD_BODIES], ids=[c[0] for c in BAD_BODIES]
)
def test_bad_body_is_400_and_changes_nothing(api, target, method, body, content_type):
    before = rows()
    response = WRITES[method](api, body, target, content_type=content_type)
    assert_clear_400(response)
    assert rows() == before


def test_post_without_url_is_400(api):
    assert_clear_400(api.post({"status": "Complete"}), "url")
    assert rows() == []


@pytest.mark.parametrize(
    "body",
    [{"objects": "nope"}, {"objects": [["x"]]}, {"no_objects": []}, {"objects": [{"url": None}]},
     {"objects": [], "deleted_objects": "all"}],
    ids=["objects-string", "object-not-dict", "missing-objects", "null-url", "deleted-not-list"],
)  # fmt: skip
@pytest.mark.parametrize("method", ["put", "patch"])
def test_bad_list_bodies_are_400_and_change_nothing(api, target, method, body):
    before = rows()
    assert_clear_400(getattr(api, method)(body))
    assert rows() == before


@pytest.mark.parametrize("uri", ["/elsewhere/1/", f"{API}999999/", f"{API}schema/"])
def test_patch_list_deleting_what_is_not_a_row_changes_nothing(api, target, uri):
    before = rows()
    body = {
        "objects": [{"resource_uri": detail_url(target.pk), "tags": "x"}],
        "deleted_objects": [uri],
    }
    assert_clear_400(api.patch(body), "row")
    assert rows() == before


@pytest.mark.parametrize("digits", [11, 18, 19, 25])
def test_huge_ids_in_the_url_are_404_or_400_never_500(api, digits):
    huge = "9" * digits
    assert api.get(f"{API}{huge}/").status_code == 404
    assert api.delete(f"{API}{huge}/").status_code == 404
    body = api.get(f"{API}set/{huge};1/").json() if digits <= 18 else {}
    assert body.get("objects", []) == []
    put = api.put(VALID, f"{API}{huge}/")
    assert put.status_code == (400 if digits <= 18 else 404)
    assert rows() == []
