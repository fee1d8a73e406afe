"""The 500s the property tests found, pinned as plain examples (each was a 500 before).

Found by test_query_strings / test_bodies; see docs/reliability.md, "Bad input".
"""

import json

import pytest

from tests.api.conftest import detail_url, rows
from tests.conftest import API

pytestmark = pytest.mark.django_db

#: (query string, status): filters and paging the database could not run.
QUERIES = [
    ("created__year=0", 400),  # ValueError: year 0 is out of range
    ("created__iso_year=0", 400),
    ("updated__year=10000", 400),
    ("created__year=2147483648", 400),  # OverflowError: signed integer is greater than maximum
    ("created__year=-5", 400),
    ("created__year=%D9%A0", 400),  # an Arabic-Indic zero: int() reads it as 0
    ("created__year=2021", 200),
    ("created__year=abc", 400),
    ("offset=9223372036854775808", 400),  # SQLite: datatype mismatch; PostgreSQL: out of range
    ("offset=9223372036854775807", 200),
    ("celery_task_id=%00", 400),  # PostgreSQL: text fields cannot contain NUL bytes
    ("tags__in=a,b%00", 400),
    ("size=" + "%D9%A1" * 25, 400),  # 25 Arabic-Indic digits: beyond any integer column
]


@pytest.mark.parametrize(("query", "status"), QUERIES)
def test_query_regressions(api, probe, query, status):
    response = probe(lambda: api.get(f"{API}?{query}"))
    assert response.status_code == status, response.content


@pytest.mark.parametrize("query", ["created__year=0", "name=%00", "size=" + "%D9%A1" * 25])
def test_delete_list_filter_regressions(api, probe, query):
    assert probe(lambda: api.delete(f"{API}?{query}")).status_code == 400


#: (method, body, status) aimed at the dataset's first row.
DETAIL_BODIES = [
    ("patch", {"created": []}, 400),  # TypeError: fromisoformat: argument must be str
    ("patch", {"updated": {"a": 1}}, 400),
    ("put", {"url": "http://example.com/x", "created": [1]}, 400),
    ("patch", {"pk": "x"}, 202),  # KeyError: 'pk' (an attribute, not a field)
    ("patch", {"save": 1, "full_path": "/etc", "tags": "kept"}, 202),
    ("patch", {"_state": None, "DoesNotExist": 1}, 202),
]


@pytest.mark.parametrize(("method", "body", "status"), DETAIL_BODIES)
def test_detail_body_regressions(api, probe, dataset, method, body, status):
    response = probe(lambda: getattr(api, method)(json.dumps(body), detail_url(dataset[0])))
    assert response.status_code == status, response.content


@pytest.mark.parametrize("uri", [[], {}, 7, None, True, ["x"], "\ud800", "http://[::1"])
def test_patch_list_resource_uri_must_be_a_uri(api, probe, uri):
    # TypeError: unhashable type: 'list' (tastypie resolved it as a URL); a lone
    # surrogate quoted in the error message could not be encoded (UnicodeEncodeError);
    # urlsplit() raises on a broken IPv6 literal.
    response = probe(lambda: api.patch(json.dumps({"objects": [{"resource_uri": uri}]})))
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("override", ["patch", "put"])
def test_lowercase_method_override_on_the_list_is_a_list_write(api, probe, override):
    body = json.dumps({"objects": "not a list"})
    response = probe(lambda: api.post(body, HTTP_X_HTTP_METHOD_OVERRIDE=override))
    assert response.status_code == 400 and "objects" in response.json()["error"]


def test_patch_with_attribute_keys_changes_only_fields(api, dataset):
    before = {row["id"]: row for row in rows()}[dataset[0]]
    assert (
        api.patch({"pk": 99, "save": 1, "tags": "new"}, detail_url(dataset[0])).status_code == 202
    )
    after = {row["id"]: row for row in rows()}[dataset[0]]
    assert after["tags"] == "new"
    assert {**after, "tags": None, "updated": None} == {**before, "tags": None, "updated": None}


@pytest.mark.parametrize("pk", [2**31 - 1, 2**30 + 1])
def test_a_chosen_id_cannot_use_up_the_sequence(api, dataset, pk):
    # PostgreSQL: the sequence was moved to the chosen id, so after PUT .../2147483647/
    # every later POST failed (nextval: reached maximum value of sequence).
    valid = {"url": "http://example.com/x.zip", "status": "Complete"}
    before = rows()
    assert api.put(valid, detail_url(pk)).status_code == 400
    assert api.post({**valid, "id": pk}).status_code == 400
    assert rows() == before
    assert api.post(valid).status_code == 201


def test_the_largest_chosen_id_still_leaves_room(api, dataset):
    valid = {"url": "http://example.com/x.zip", "status": "Complete"}
    assert api.put(valid, detail_url(2**30)).status_code == 201
    assert api.post(valid).status_code == 201


@pytest.mark.parametrize("field", ["url", "name", "tags", "status", "local_dir", "md5sum"])
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_lone_surrogates_are_refused(api, probe, dataset, field, method):
    # JSON may carry "\\ud800"; no database can store it (UnicodeEncodeError: a 500).
    body = {"url": "http://example.com/x.zip", "status": "Complete", field: "a\ud800b"}
    path = API if method == "post" else detail_url(dataset[0])
    response = probe(lambda: getattr(api, method)(json.dumps(body), path))
    assert response.status_code == 400 and field in response.json()["error"]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_body_id_must_be_the_rows_own(api, probe, dataset, method):
    # PATCH: "Save with update_fields did not affect any rows" (a 500). PUT: the body was
    # saved over the row with the body's id, leaving the row the URI names alone.
    body = {"url": "http://example.com/x.zip", "status": "Complete", "id": dataset[1]}
    response = probe(lambda: getattr(api, method)(json.dumps(body), detail_url(dataset[0])))
    assert response.status_code == 400 and "id" in response.json()["error"]
    body["id"] = f"{dataset[0]}"  # its own id, even as a string, is fine
    assert getattr(api, method)(json.dumps(body), detail_url(dataset[0])).status_code in (202, 204)


def test_a_list_patch_cannot_move_a_row_to_another_id(api, probe, dataset):
    update = {"resource_uri": detail_url(dataset[0]), "id": dataset[1], "tags": "moved"}
    response = probe(lambda: api.patch(json.dumps({"objects": [update]})))
    assert response.status_code == 400 and "id" in response.json()["error"]


@pytest.mark.parametrize(
    "query", ["tags__iexact=true", "name__icontains=false", "status__istartswith=True",
              "url__iendswith=False", "celery_task_id__iexact=true", "tags__regex=true"],
)  # fmt: skip
def test_true_and_false_are_words_in_text_filters(api, probe, query):
    # Tastypie made them booleans: PostgreSQL has no UPPER(boolean) (a 500).
    assert probe(lambda: api.get(f"{API}?{query}")).status_code == 200


def test_a_tag_named_true_is_found(api, dataset):
    from tests.api.conftest import make_monitor

    tagged = make_monitor(tags="true")
    assert [o["id"] for o in api.objects({"tags": "true"})] == [tagged.pk]
    assert [o["id"] for o in api.objects({"tags__iexact": "TRUE"})] == [tagged.pk]
