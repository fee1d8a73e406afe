"""Any JSON body on any write: never a 500, a 400 names the problem, a refusal changes nothing.

Bodies are objects keyed mostly by model field names whose values are any JSON at all
(nested lists and objects, huge and negative numbers, NaN and Infinity, lone
surrogates, control characters, paths around the download root...), list bodies with
well-formed or broken ``objects``/``deleted_objects``, and raw bytes with any type.
"""

import pytest
from hypothesis import strategies as st

from tests.api.conftest import detail_url
from tests.conftest import API
from tests.properties.conftest import budgets, explore
from tests.properties.strategies import any_bodies, dumps, ids, list_bodies, query_strings

pytestmark = pytest.mark.django_db

CONTENT_TYPES = (
    "application/json", "application/json; charset=latin-1", "application/json; charset=utf-16",
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", "text/javascript", "",
)  # fmt: skip


@budgets()
def test_post(api, probe, download_root, budget):
    @explore(budget, body=any_bodies(download_root))
    def example(body):
        probe(lambda: api.post(dumps(body)))


@budgets()
def test_put_detail(api, probe, dataset, download_root, budget):
    @explore(budget, pk=ids(dataset), body=any_bodies(download_root))
    def example(pk, body):
        probe(lambda: api.put(dumps(body), detail_url(pk)))


@budgets()
def test_patch_detail(api, probe, dataset, download_root, budget):
    @explore(budget, pk=ids(dataset), body=any_bodies(download_root))
    def example(pk, body):
        probe(lambda: api.patch(dumps(body), detail_url(pk)))


@budgets()
def test_put_list(api, probe, dataset, download_root, budget):
    bodies = list_bodies(download_root, dataset)

    @explore(budget, body=bodies, query=query_strings(max_params=2))
    def example(body, query):
        probe(lambda: api.put(dumps(body), f"{API}?{query}"))


@budgets()
def test_patch_list(api, probe, dataset, download_root, budget):
    @explore(budget, body=list_bodies(download_root, dataset))
    def example(body):
        probe(lambda: api.patch(dumps(body)))


@budgets(60)
def test_post_download(api, probe, dataset, budget):
    @explore(budget, pk=ids(dataset), body=any_bodies())
    def example(pk, body):
        probe(lambda: api.post(dumps(body), f"{API}{pk}/download/"))


@budgets()
def test_raw_bodies(api, probe, dataset, budget):
    paths = st.sampled_from([API, detail_url(dataset[0]), detail_url(10**9)])
    methods = st.sampled_from(["POST", "PUT", "PATCH"])
    bodies = st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode))

    types = st.sampled_from(CONTENT_TYPES)

    @explore(budget, method=methods, path=paths, body=bodies, content_type=types)
    def example(method, path, body, content_type):
        # generic() sends the bytes as they are, whatever charset the type names.
        send = api.client.generic
        probe(lambda: send(method, path, body, content_type=content_type, **api.auth))
