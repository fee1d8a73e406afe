"""``schema/`` and the API root, checked against the published reference page."""

import re

import pytest

from tests.api.conftest import MODEL_FIELDS, SPEC_RST
from tests.conftest import API

pytestmark = pytest.mark.django_db

ALL_METHODS = ["get", "post", "put", "delete", "patch"]
_BOOLEAN_COLUMNS = ("nullable", "readonly", "blank", "unique")


def parse_simple_table(text):
    """Rows of the first RST simple table under "Resource Fields", as dicts of raw cells.

    Columns are delimited by the ``=`` runs of the table's border line; every cell is
    the stripped text between the start of its column and the start of the next.
    """
    lines = text[text.index("Resource Fields") :].splitlines()
    borders = [i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+ *", line)]
    starts = [m.start() for m in re.finditer(r"=+", lines[borders[0]])]

    def cells(line):
        bounds = [*starts[1:], None]
        return [line[a:b].strip() for a, b in zip(starts, bounds, strict=True)]

    header = cells(lines[borders[0] + 1])
    body = lines[borders[1] + 1 : borders[2]]
    return [dict(zip(header, cells(line), strict=True)) for line in body if line.strip("- ")]


def render_default(cell):
    """The JSON value a doc-generator cell stands for (the page's rendering rules)."""
    rendered = {"n/a": "No default provided.", "None": None, "": "", "true": True, "false": False}
    if cell in rendered:
        return rendered[cell]
    return int(cell) if cell.isdigit() else cell


def expected_field(row):
    entry = {
        "default": render_default(row["default"]),
        "help_text": row["help text"],
        "type": row["type"],
    }
    entry.update(
        {column: {"true": True, "false": False}[row[column]] for column in _BOOLEAN_COLUMNS}
    )
    return entry


@pytest.fixture(scope="module")
def spec_fields():
    if not SPEC_RST.is_file():
        pytest.skip(f"SPEC MISSING: {SPEC_RST} not found; cannot compare schema/ with the spec")
    rows = parse_simple_table(SPEC_RST.read_text())
    return {row["field"].strip("*"): expected_field(row) for row in rows}


@pytest.fixture
def schema(api):
    response = api.get(f"{API}schema/")
    assert response.status_code == 200
    return response.json()


def test_spec_table_is_parsed(spec_fields):
    assert set(spec_fields) == {*MODEL_FIELDS, "resource_uri"}
    assert spec_fields["url"]["default"] == "No default provided."
    assert spec_fields["created"]["default"] is True


def test_schema_has_exactly_the_spec_fields(schema, spec_fields):
    assert set(schema["fields"]) == set(spec_fields)


@pytest.mark.parametrize("field", [*MODEL_FIELDS, "resource_uri"])
def test_schema_field_equals_spec_row(schema, spec_fields, field):
    # Key for key and value for value: no primary_key/verbose_name, exact help text.
    assert schema["fields"][field] == spec_fields[field]


def test_schema_options(schema):
    assert schema["default_format"] == "application/json"
    assert schema["default_limit"] == 20
    assert schema["allowed_list_http_methods"] == ALL_METHODS
    assert schema["allowed_detail_http_methods"] == ALL_METHODS
    assert schema["filtering"] == dict.fromkeys(MODEL_FIELDS, 2)
    assert schema["ordering"] == sorted(MODEL_FIELDS)


def test_api_root_lists_the_resource(api):
    response = api.get("/rundb/api/v1/")
    assert response.status_code == 200
    assert response.json()["filemonitor"] == {"list_endpoint": API, "schema": f"{API}schema/"}


@pytest.mark.parametrize("path", ["", "1/", "schema/"])
def test_urls_end_with_a_slash(api, path):
    # TASTYPIE_ALLOW_MISSING_SLASH is off; Django's APPEND_SLASH redirects a GET.
    response = api.get(f"{API}{path}".rstrip("/"))
    assert response.status_code == 301
    assert response["Location"] == f"{API}{path}"
