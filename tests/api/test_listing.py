"""Reading: detail, list, ``set/``, pagination, filtering and ordering."""

import warnings
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from filemonitor.models import FileMonitor
from tests.api.conftest import MODEL_FIELDS, detail_url, make_monitor
from tests.conftest import API

pytestmark = pytest.mark.django_db

META_KEYS = {"limit", "next", "offset", "previous", "total_count"}


def ids(objects):
    return [item["id"] for item in objects]


def orm_ids(**lookup):
    return set(FileMonitor.objects.filter(**lookup).values_list("id", flat=True))


def test_detail_has_every_field(api):
    monitor = make_monitor(size=4663793607, progress=4663793607, tags="reference")
    response = api.get(detail_url(monitor.pk))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {*MODEL_FIELDS, "resource_uri"}
    assert body["id"] == monitor.pk
    assert body["resource_uri"] == detail_url(monitor.pk)
    assert (body["size"], body["progress"], body["md5sum"]) == ("4663793607", "4663793607", None)


def test_unknown_size_is_null_and_progress_still_a_string(api):
    monitor = make_monitor()
    body = api.get(detail_url(monitor.pk)).json()
    assert (body["size"], body["progress"]) == (None, "0")


@pytest.mark.parametrize("path", ["999999/", "abc/"])
def test_missing_detail_is_404(api, path):
    assert api.get(f"{API}{path}").status_code == 404


def test_list_is_newest_first_with_string_counts(api):
    made = [make_monitor(size=i) for i in range(3)]
    objects = api.objects()
    assert ids(objects) == [m.pk for m in reversed(made)]
    assert all(isinstance(o["size"], str) and isinstance(o["progress"], str) for o in objects)


def test_meta_and_next_link(api):
    make_monitor(), make_monitor()
    body = api.get(API, {"limit": 1, "format": "json"}).json()
    assert set(body["meta"]) == META_KEYS
    assert {k: body["meta"][k] for k in ("limit", "offset", "previous", "total_count")} == {
        "limit": 1, "offset": 0, "previous": None, "total_count": 2,
    }  # fmt: skip
    link = urlsplit(body["meta"]["next"])
    assert link.path == API and not link.netloc
    assert parse_qs(link.query) == {"offset": ["1"], "limit": ["1"], "format": ["json"]}
    second = api.get(API, {"offset": 1, "limit": 1, "format": "json"}).json()["meta"]
    assert second["next"] is None and second["previous"] is not None


@pytest.mark.parametrize(
    ("params", "expected"),
    [({}, 20), ({"limit": 0}, 1000), ({"limit": 5000}, 1000), ({"limit": 7}, 7)],
)
def test_page_sizes(api, params, expected):
    FileMonitor.objects.bulk_create(
        FileMonitor(url=f"http://h/{i}", status="Complete") for i in range(1005)
    )
    body = api.get(API, params).json()
    assert (body["meta"]["limit"], len(body["objects"])) == (expected, expected)
    assert body["meta"]["total_count"] == 1005


@pytest.mark.parametrize("params", [{"limit": "x"}, {"offset": "-1"}, {"limit": "-5"}])
def test_bad_pagination_is_400(api, params):
    response = api.get(API, params)
    assert response.status_code == 400
    assert "error" in response.json()


def test_set_answers_objects_and_not_found(api):
    first, second = make_monitor(), make_monitor()
    body = api.get(f"{API}set/{second.pk};999999;{first.pk}/").json()
    assert ids(body["objects"]) == [second.pk, first.pk]
    assert body["not_found"] == ["999999"]
    assert all(item["progress"] == "0" for item in body["objects"])


# --- filtering -----------------------------------------------------------------------------

STRING_FIELDS = ("url", "local_dir", "name", "status", "celery_task_id", "tags")

FILTERS = [
    # (query parameter, value, the equivalent ORM lookup and value)
    *[(f"{f}", v, f, v) for f, v in [("url", "http://host1.example.com/dir/File1.zip"),
      ("local_dir", "/results/referenceLibrary/temp/tmp2"), ("name", "File3.zip"),
      ("status", "Complete"), ("celery_task_id", "task-4"), ("tags", "upload,report/7/"),
      ("md5sum", "b" * 32)]],
    *[(f"{f}__iexact", v, f"{f}__iexact", v) for f, v in [("url", "HTTP://HOST1.EXAMPLE.COM/DIR/FILE1.ZIP"),
      ("name", "file3.ZIP"), ("status", "complete"), ("tags", "REFERENCE"), ("md5sum", "A" * 32)]],
    *[(f"{f}__contains", v, f"{f}__contains", v) for f, v in [("url", "host1"),
      ("local_dir", "tmp3"), ("name", "e2.b"), ("status", "Error"), ("celery_task_id", "-2"),
      ("tags", "report/")]],
    *[(f"{f}__icontains", v, f"{f}__icontains", v) for f, v in [("url", "FILE1"), ("name", ".ZIP"),
      ("status", "ing"), ("tags", "BED")]],
    *[(f"{f}__startswith", v, f"{f}__startswith", v) for f, v in [("url", "http://host0"),
      ("status", "HTTP"), ("tags", "upload")]],
    *[(f"{f}__endswith", v, f"{f}__endswith", v) for f, v in [("url", ".bed"), ("name", ".zip"),
      ("local_dir", "tmp0")]],
    ("name__istartswith", "file1", "name__istartswith", "file1"),
    ("url__iendswith", ".ZIP", "url__iendswith", ".ZIP"),
    ("status__in", "Queued,Starting,Downloading", "status__in",
     ["Queued", "Starting", "Downloading"]),
    ("tags__in", "reference,bedfile", "tags__in", ["reference", "bedfile"]),
    ("id__in", "{ids[1]},{ids[3]}", "id__in", "{ids[1]},{ids[3]}"),
    ("id", "{ids[2]}", "id", "{ids[2]}"),
    ("id__gt", "{ids[2]}", "id__gt", "{ids[2]}"),
    ("id__lte", "{ids[2]}", "id__lte", "{ids[2]}"),
    ("size", "3000", "size", 3000),
    ("size__gt", "2000", "size__gt", 2000),
    ("size__gte", "2000", "size__gte", 2000),
    ("size__lt", "3000", "size__lt", 3000),
    ("size__lte", "3000", "size__lte", 3000),
    ("size__range", "2000,4000", "size__range", (2000, 4000)),
    ("size__in", "1000,6000", "size__in", [1000, 6000]),
    ("size__isnull", "true", "size__isnull", True),
    ("size__isnull", "false", "size__isnull", False),
    ("md5sum__isnull", "true", "md5sum__isnull", True),
    ("progress", "20", "progress", 20),
    ("progress__gte", "30", "progress__gte", 30),
    ("progress__lt", "10", "progress__lt", 10),
    ("created__gt", "2021-06-01T00:00:00+00:00", "created__gt", "2021-06-01T00:00:00+00:00"),
    ("created__lte", "2021-05-18T06:06:07.123456+00:00", "created__lte",
     "2021-05-18T06:06:07.123456+00:00"),
    ("updated__lt", "2021-05-01T00:00:00+00:00", "updated__lt", "2021-05-01T00:00:00+00:00"),
    ("created__range", "2021-04-01T00:00:00+00:00,2021-09-01T00:00:00+00:00", "created__range",
     ("2021-04-01T00:00:00+00:00", "2021-09-01T00:00:00+00:00")),
    ("created__year", "2021", "created__year", 2021),
    ("created__month", "5", "created__month", 5),
    ("created__day", "18", "created__day", 18),
    ("created__date", "2021-03-04", "created__date", "2021-03-04"),
    ("updated__year", "2022", "updated__year", 2022),
    ("md5sum__isnull", "false", "md5sum__isnull", False),
    ("status__regex", "^(Queued|Starting)$", "status__regex", "^(Queued|Starting)$"),
]  # fmt: skip


def _fill(value, varied_rows):
    """Put the rows' ids into ``{ids[n]}`` placeholders."""
    if isinstance(value, str):
        return value.format(ids=[m.pk for m in varied_rows])
    return value


@pytest.mark.parametrize(
    ("param", "value", "lookup", "orm_value"), FILTERS, ids=[f[0] for f in FILTERS]
)
def test_filter_matches_the_orm(api, varied_rows, param, value, lookup, orm_value):
    orm_value = _fill(orm_value, varied_rows)
    if lookup.endswith("__in") and isinstance(orm_value, str):
        orm_value = orm_value.split(",")
    expected = orm_ids(**{lookup: orm_value})
    # A meaningful filter keeps some rows and drops others.
    assert 0 < len(expected) < len(varied_rows), expected
    objects = api.objects({param: _fill(value, varied_rows), "limit": 0})
    assert set(ids(objects)) == expected


def test_in_filter_accepts_repeated_parameters(api, varied_rows):
    query = f"{API}?status__in=Queued&status__in=Complete,Starting"
    assert {o["status"] for o in api.get(query).json()["objects"]} == {
        "Queued",
        "Complete",
        "Starting",
    }


def test_filters_combine(api, varied_rows):
    objects = api.objects({"url__contains": "host1", "size__gte": 4000})
    assert {o["name"] for o in objects} == {"File3.zip"}


def test_unknown_filter_field_is_ignored(api, varied_rows):
    assert len(api.objects({"no_such_field": "x", "callback_x": "1"})) == len(varied_rows)


@pytest.mark.parametrize(
    "params",
    [
        {"status__nosuchlookup": "x"},
        {"status__name__exact": "x"},
        {"id": "abc"},
        {"id__in": "1,abc"},
        {"size__gt": "big"},
        {"progress": ""},
        {"size__range": "1"},
        {"size__range": "1,2,3"},
        {"created__gt": "not-a-date"},
        {"created__year": "twenty"},
        {"created__range": "2021-01-01,garbage"},
        {"size__isnull": "maybe"},
        {"id__in": "1," + "9" * 25},
        {"size__in": "1," + "9" * 25},
        {"size__range": "1," + "9" * 25},
        {"progress__gt": "-" + "9" * 25},
        {"created__year": "9" * 25},
        {"status__regex": "(unclosed"},
        {"updated__year__gte": "2022"},
        {"order_by": "no_such_field"},
        {"order_by": "resource_uri"},
        {"order_by": "status__foo"},
        {"order_by": "created__nope"},
    ],
    ids=lambda params: "&".join(f"{k}={v}" for k, v in params.items()),
)
def test_bad_filter_or_order_is_400_json(api, varied_rows, params):
    response = api.get(API, params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    message = response.json()["error"]
    assert message and "&#" not in message and "&amp;" not in message


@pytest.mark.parametrize("field", MODEL_FIELDS)
@pytest.mark.parametrize("sign", ["", "-"])
def test_ordering_on_every_field(api, varied_rows, field, sign):
    expected = list(FileMonitor.objects.order_by(f"{sign}{field}").values_list("id", flat=True))
    assert ids(api.objects({"order_by": f"{sign}{field}"})) == expected


def test_ordering_by_two_fields(api, varied_rows):
    expected = list(FileMonitor.objects.order_by("url", "-size").values_list("id", flat=True))
    assert ids(api.get(f"{API}?order_by=url&order_by=-size").json()["objects"]) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"created__gte": "2021-06-01"}, ["late"]),
        ({"created__lt": "2021-06-01T00:00"}, ["early"]),
        ({"created__range": "2021-01-01,2021-05-31 23:59:30"}, ["early"]),
        ({"created__gt": "2021-06-01T01:59:30+02:00"}, ["late"]),  # aware: kept as sent
    ],
    ids=["date", "naive-datetime", "naive-range", "aware"],
)
def test_naive_datetime_filters_are_read_in_utc_without_warnings(api, query, expected):
    for name, created in (("early", datetime(2021, 5, 31, 23, 59)), ("late", datetime(2021, 6, 1))):
        make_monitor(url=f"http://h/{name}", name=name)
        FileMonitor.objects.filter(name=name).update(created=created.replace(tzinfo=UTC))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Django's "received a naive datetime" would fail here
        names = sorted(row["name"] for row in api.objects(query))
    assert names == expected
