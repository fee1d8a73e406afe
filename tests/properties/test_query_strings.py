"""Any query string on any read (and on DELETE, where it filters): never a 5xx, and a
refused request changes nothing.

Keys are model fields with random lookups (``size__year__gt``...), paging and format
keys or junk; values are numbers far beyond any column, comma lists, dates, control
characters, lone surrogates and bytes that are not UTF-8 at all.
"""

import pytest
from hypothesis import strategies as st

from tests.conftest import API
from tests.properties.conftest import budgets, explore
from tests.properties.strategies import ids, query_strings

pytestmark = pytest.mark.django_db


@budgets()
def test_list_get(api, probe, budget):
    @explore(budget, query=query_strings())
    def example(query):
        probe(lambda: api.get(f"{API}?{query}"))


@budgets()
def test_detail_get(api, probe, dataset, budget):
    @explore(budget, pk=ids(dataset), query=query_strings(max_params=3))
    def example(pk, query):
        probe(lambda: api.get(f"{API}{pk}/?{query}"))


@budgets(60)
def test_schema_get(api, probe, budget):
    @explore(budget, query=query_strings(max_params=3))
    def example(query):
        probe(lambda: api.get(f"{API}schema/?{query}"))


@budgets()
def test_set_get(api, probe, dataset, budget):
    @explore(budget, pks=st.lists(ids(dataset), min_size=1, max_size=4), query=query_strings(3))
    def example(pks, query):
        probe(lambda: api.get(f"{API}set/{';'.join(map(str, pks))}/?{query}"))


@budgets()
def test_delete_list_with_filters(api, probe, budget):
    @explore(budget, query=query_strings())
    def example(query):
        probe(lambda: api.delete(f"{API}?{query}"))


@budgets(60)
def test_delete_detail(api, probe, dataset, budget):
    @explore(budget, pk=ids(dataset), query=query_strings(max_params=2))
    def example(pk, query):
        probe(lambda: api.delete(f"{API}{pk}/?{query}"))
