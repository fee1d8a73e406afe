"""Hypothesis strategies for what a hostile or broken client may send the filemonitor API."""

import json
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

from tests.api.conftest import MODEL_FIELDS
from tests.conftest import API

LOOKUPS = (
    "exact", "iexact", "contains", "icontains", "in", "gt", "gte", "lt", "lte", "startswith",
    "istartswith", "endswith", "iendswith", "range", "isnull", "regex", "iregex", "date",
    "time", "year", "iso_year", "month", "day", "week", "week_day", "iso_week_day", "quarter",
    "hour", "minute", "second", "search", "contained_by", "overlap", "len", "unaccent", "trigram",
    "id", "pk", "foo", "",
)  # fmt: skip
SPECIAL_KEYS = ("order_by", "limit", "offset", "format", "callback", "username", "api_key",
                "objects", "id__in", "pk", "resource_uri")  # fmt: skip
MAX_ID = 2**31 - 1
BIG_NUMBERS = (MAX_ID, MAX_ID + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 10**400)
INTERESTING_TEXT = (
    "", " ", "0", "-0", "1", "-1", "+1", "01", "1.5", "1e3", "1e400", "NaN", "inf", "-inf",
    "true", "false", "True", "null", "None", "1,2", ",", ",,", "1,", "a,b,c", "1,2,3",
    "2021-03-04", "2021-03-04T05:06:07", "2021-03-04T05:06:07.123456+05:30", "2021-13-45",
    "0000-00-00", "9999-12-31T23:59:59", "0001-01-01", "24:00", "12:30:00",
    "Complete", "Queued", "Downloading", "HTTP Error: Not Found", "Error: cancelled",
    "-id", "-created", "id,name", "name__foo", "-", "--id", "?", "__", "(", "[", "*", "\\",
    "%", "%00", "'", '"', "'; DROP TABLE filemonitor_filemonitor; --", "<script>", "&#0;",
    "\x00", "a\x00b", "\r\n", "\t", "\x7f", "\u202e", "\ud800", "\udfff", "\ufeff", "\uffff",
    "\U0001f600", "é", "Ω" * 50, "x" * 2001, "\u4e00" * 1500, "http://example.com/\ud800.zip",
    "http://example.com/a.zip", "https://example.com/", "HTTP://EXAMPLE.COM/x", "ftp://h/x",
    "file:///etc/passwd", "gopher://h/", "javascript:alert(1)", "data:text/plain,hi",
    "//example.com/x", "http://", "http:///x", "http://[::1", "http://h:99999/", "http://h:x/",
    "http://user:pw@example.com/x", "http://127.0.0.1:1/", "http://[::1]/", "example.com/x",
    "../x", "../../etc", "/etc", "/tmp", "a/b", "..", ".", "/", "d41d8cd98f00b204e9800998ecf8427e",
    "D41D8CD98F00B204E9800998ECF8427E", "g" * 32, "abc",
    f"{API}1/", f"{API}999999999/", f"{API}schema/", "/elsewhere/1/", "http://testserver/x",
)  # fmt: skip

#: Any character, including control characters and lone surrogates.
ANY_CHAR = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0, max_codepoint=0x1F),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
)
texts = st.one_of(
    st.sampled_from(INTERESTING_TEXT),
    st.text(ANY_CHAR, max_size=20),
    st.text(alphabet="0123456789,-+.", max_size=25),
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(BIG_NUMBERS),
    st.integers(min_value=-3, max_value=12),
)


# --- query strings -----------------------------------------------------------------------


def _as_bytes(value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


query_keys = st.one_of(
    st.builds(
        lambda field, lookups: "__".join([field, *lookups]),
        st.sampled_from(MODEL_FIELDS),
        st.lists(st.sampled_from(LOOKUPS), max_size=2),
    ),
    st.sampled_from(SPECIAL_KEYS),
    st.text(ANY_CHAR, max_size=8),
)
query_values = st.one_of(
    texts,
    numbers.map(str),
    st.lists(st.one_of(numbers.map(str), texts), min_size=2, max_size=4).map(",".join),
    st.binary(max_size=12),  # bytes that are not UTF-8 at all
)


@st.composite
def query_strings(draw, max_params=5):
    """A raw query string: field lookups, paging and format keys, any bytes, percent-encoded."""
    params = draw(st.lists(st.tuples(query_keys, query_values), max_size=max_params))
    raw = draw(st.booleans())  # sometimes leave "," and "=" in values as they are
    safe = b",:" if raw else b""
    return "&".join(
        f"{quote_from_bytes(_as_bytes(k), safe=safe)}={quote_from_bytes(_as_bytes(v), safe=safe)}"
        for k, v in params
    )


# --- JSON bodies -------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(MODEL_FIELDS), texts), children, max_size=3),
    ),
    max_leaves=6,
)
body_keys = st.one_of(
    st.sampled_from(MODEL_FIELDS),
    st.sampled_from(("resource_uri", "objects", "deleted_objects", "meta", "pk", "format")),
    texts,
)


def row_bodies(root=None):
    """A JSON object for one row: model field names (mostly) with any JSON values."""
    values = json_values
    if root is not None:
        # Paths inside (and just beside) the download root, for local_dir.
        values = st.one_of(values, st.sampled_from((str(root), f"{root}/sub", f"{root}/../x")))
    return st.dictionaries(body_keys, values, max_size=7)


#: Plain text a client could well send (no NUL, no lone surrogate).
_plain_text = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=30)


def _valid_values(root):
    """A strategy of a valid value for each field a client writes."""
    return {
        "url": st.one_of(
            st.sampled_from(("http://example.com/a.zip", "https://example.org/ref/hg19.zip")),
            _plain_text.map(lambda path: "http://example.com/" + path),
        ),
        "status": st.sampled_from(
            ("Complete", "", "Queued", "Downloading", "HTTP Error: Not Found", "Error: cancelled")
        ),
        "tags": _plain_text,
        "name": st.sampled_from(("a.zip", "GRCh38 (p2).fa.gz", "\u00e9t\u00e9.bed")),
        "size": st.one_of(st.none(), st.integers(0, 2**40), st.integers(0, 2**40).map(str)),
        "progress": st.one_of(st.integers(0, 2**40), st.integers(0, 2**40).map(str)),
        "md5sum": st.one_of(st.none(), st.text("0123456789abcdefABCDEF", min_size=32, max_size=32)),
        "local_dir": st.sampled_from(("", f"{root}/sub") if root else ("",)),
        "celery_task_id": st.one_of(st.just(""), st.uuids().map(str)),
        "created": st.datetimes().map(lambda when: when.isoformat()),
        "updated": st.datetimes().map(lambda when: when.isoformat()),
        "id": st.integers(1, 2**31),
        "resource_uri": st.sampled_from(("", f"{API}1/")),
    }


@st.composite
def near_valid_rows(draw, root=None):
    """A valid row body (url, then any valid fields) with up to two fields made hostile."""
    valid = _valid_values(root)
    optional = {key: strategy for key, strategy in valid.items() if key != "url"}
    body = draw(st.fixed_dictionaries({"url": valid["url"]}, optional=optional))
    for _ in range(draw(st.integers(0, 2))):
        body[draw(body_keys)] = draw(json_values)
    return body


def list_bodies(root=None, existing=()):
    """A list write's body: ``objects`` and ``deleted_objects``, well formed or not."""
    uris = st.one_of(
        st.sampled_from([f"{API}{pk}/" for pk in existing] or [f"{API}1/"]),
        st.integers(min_value=-2, max_value=MAX_ID + 2).map(lambda pk: f"{API}{pk}/"),
        texts,
        scalars,
    )
    updates = st.builds(
        lambda body, uri: {**body, "resource_uri": uri}, near_valid_rows(root), uris
    )
    objects = st.one_of(near_valid_rows(root), updates, row_bodies(root))
    well_formed = st.fixed_dictionaries(
        {"objects": st.lists(objects, max_size=3)},
        optional={"deleted_objects": st.lists(uris, max_size=3)},
    )
    return st.one_of(
        well_formed, well_formed, st.dictionaries(body_keys, json_values, max_size=3), json_values
    )


def any_bodies(root=None):
    """Half nearly valid rows, then rows of any JSON values, then any JSON at all."""
    return st.one_of(near_valid_rows(root), near_valid_rows(root), row_bodies(root), json_values)


def dumps(value):
    """JSON text as a lenient client writes it (NaN/Infinity tokens, lone surrogates escaped)."""
    return json.dumps(value, allow_nan=True)


#: Ids to aim detail requests at: the dataset's rows, free ones and the edges.
def ids(existing):
    return st.one_of(
        st.sampled_from(existing),
        st.sampled_from(existing),
        st.sampled_from(existing),
        st.integers(min_value=0, max_value=MAX_ID + 10),
        st.sampled_from((0, 1, MAX_ID, MAX_ID + 1, 10**17, 10**18 - 1)),
    )
