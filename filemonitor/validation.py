"""Checks on what clients send: bad input is a 400 with a plain message, never a 500.

Every check raises tastypie's ``BadRequest`` naming the offending field; callers run
them before anything is written, and writes run in a transaction, so a refused
request changes nothing.
"""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tastypie.exceptions import BadRequest

from .engine.guard import blocked_addresses
from .engine.naming import is_plain_name
from .paths import is_inside_root

_MD5_RE = re.compile(r"[0-9a-fA-F]{32}")
_DIGITS_RE = re.compile(r"\d+", re.ASCII)
DOWNLOAD_SCHEMES = ("http", "https")
#: The id column is a 32-bit integer (AutoField).
MAX_ID = 2**31 - 1
MAX_COUNT = 2**63 - 1
#: The largest id a client may choose for a new row. PostgreSQL's id sequence is moved
#: past a chosen id and never comes back: choosing 2**31-1 would leave no id for any
#: later row. Above this, half the range stays for the database's own numbering.
MAX_CHOSEN_ID = 2**30
#: Fields a client may omit but never set to null (tastypie would silently skip the null).
NOT_NULL_FIELDS = (
    "celery_task_id", "created", "id", "local_dir", "name", "progress", "status", "tags",
    "updated", "url",
)  # fmt: skip
TEXT_FIELDS = ("celery_task_id", "local_dir", "md5sum", "name", "status", "tags", "url")
DATE_FIELDS = ("created", "updated")
TEXT_MODEL_FIELDS = ("url", "local_dir", "name", "status", "celery_task_id", "tags")
#: Indexed text columns; a PostgreSQL btree entry holds at most 2704 bytes.
INDEXED_TEXT_FIELDS = ("status", "tags", "url")
MAX_INDEXED_BYTES = 2700
#: Year lookups become datetime bounds, which exist for years 1 to 9999 only.
YEAR_PARTS = ("year", "iso_year")
MIN_YEAR, MAX_YEAR = 1, 9999
#: Lookups that compare a date part (an integer) rather than the date itself.
DATE_PARTS = frozenset(
    ("year", "iso_year", "quarter", "month", "week", "week_day", "iso_week_day", "day",
     "hour", "minute", "second")
)  # fmt: skip


def check_object(data):
    """Check one JSON object sent for a row (POST, PUT, PATCH, or one of a list's ``objects``).

    :returns: ``data`` unchanged.
    :raises BadRequest: when it is not an object, a non-null field is null, a value
        is text with lone surrogates, a text field holds a list, object or boolean, a
        date field anything but a string, or ``id`` is not a valid id.
    """
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    for field in NOT_NULL_FIELDS:
        if field in data and data[field] is None:
            raise BadRequest(f"{field} must not be null.")
    for field, value in data.items():
        if isinstance(value, str) and not _is_unicode(value):
            raise BadRequest(f"{_printable(field)} is not valid Unicode text.")
    _check_types(data)
    if "id" in data:
        check_id(data["id"])
    return data


def _check_types(data):
    for field in TEXT_FIELDS:
        if isinstance(data.get(field), list | dict | bool):
            raise BadRequest(f"{field} must be a string.")
    for field in DATE_FIELDS:
        if data.get(field) is not None and not isinstance(data[field], str):
            raise BadRequest(f"{field} must be a date and time string (ISO 8601).")


def _is_unicode(text):
    """False for text no database can store: lone surrogates (JSON allows "\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text):
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_collection(data):
    """Check a list body: ``{"objects": [object, ...], "deleted_objects": [uri, ...]}``.

    :returns: ``data`` unchanged.
    :raises BadRequest: on any other shape, or a bad object inside it.
    """
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise BadRequest("The request body must be a JSON object with an objects list.")
    deleted = data.get("deleted_objects", [])
    if not isinstance(deleted, list) or not all(isinstance(uri, str) for uri in deleted):
        raise BadRequest("deleted_objects must be a list of resource URIs.")
    for item in data["objects"]:
        check_object(item)
    return data


def check_id(value):
    """Return ``value`` as an id: a whole number from 1 to MAX_ID.

    :raises BadRequest: otherwise.
    """
    if (
        isinstance(value, bool)
        or not _DIGITS_RE.fullmatch(str(value))
        or not 0 < int(value) <= MAX_ID
    ):
        raise BadRequest(f"id must be a whole number between 1 and {MAX_ID}.")
    return int(value)


def check_new_id(value):
    """Return ``value`` as the id a client chose for a new row: 1 to MAX_CHOSEN_ID.

    :raises BadRequest: otherwise.
    """
    pk = check_id(value)
    if pk > MAX_CHOSEN_ID:
        raise BadRequest(
            f"A new row's id must be at most {MAX_CHOSEN_ID}; leave id out to get the next one."
        )
    return pk


def check_lookup_value(filter_type, value, *, numeric=False):
    """Refuse filter values the database would only reject while the page is being read.

    ``numeric`` says the field is an integer; date parts always are.

    :returns: ``value`` unchanged.
    :raises BadRequest: for a range without exactly two values, an isnull that is
        not true/false, an invalid regex, a number no database column can hold, a
        year outside 1..9999, or a NUL character.
    """
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, str) and "\x00" in item for item in items):
        # PostgreSQL cannot even compare a text with a NUL in it.
        raise BadRequest("Filter values must not contain NUL characters.")
    if numeric or filter_type in DATE_PARTS:
        _check_int_range(value)
    if filter_type in YEAR_PARTS:
        _check_years(value)
    if filter_type == "range" and (not isinstance(value, list) or len(value) != 2):
        raise BadRequest("A range filter takes exactly two comma-separated values.")
    if filter_type == "isnull" and not isinstance(value, bool):
        raise BadRequest("An isnull filter takes true or false.")
    if filter_type in ("regex", "iregex"):
        try:
            re.compile(value)
        except (re.error, TypeError):
            raise BadRequest("The regex filter value is not a valid regular expression.") from None
    return value


def _as_int(item):
    """``item`` as the database layer's ``int()`` reads it (any Unicode digits), or None."""
    try:
        return int(str(item))
    except ValueError:
        return None


def _check_years(value):
    # Django turns a year into datetime bounds: outside 1..9999 it raises (a 500).
    for item in value if isinstance(value, list) else [value]:
        year = _as_int(item)
        if year is None or not MIN_YEAR <= year <= MAX_YEAR:
            raise BadRequest(f"A year filter takes a year from {MIN_YEAR} to {MAX_YEAR}.")


def _check_int_range(value):
    for item in value if isinstance(value, list) else [value]:
        number = _as_int(item)
        if number is not None and abs(number) > MAX_COUNT:
            raise BadRequest(f"Filter values on whole numbers must lie within +/- {MAX_COUNT}.")


def check_offset(offset):
    """Refuse a page offset no database can skip to (SQLite and PostgreSQL stop at 2**63-1).

    :returns: ``offset`` unchanged.
    """
    if offset > MAX_COUNT:
        raise BadRequest(f"offset must be a whole number from 0 to {MAX_COUNT}.")
    return offset


def check_ordering(names):
    """Refuse ``order_by`` values with lookups: Django would only fail while reading the page.

    :raises BadRequest: for a name such as ``status__foo``.
    """
    for name in names:
        if "__" in name:
            raise BadRequest("order_by takes field names, with a leading - for descending order.")
    return names


def _as_count(value, field, *, nullable):
    """Coerce a JSON number or numeric string to a non-negative int (None if allowed)."""
    if value is None or value == "":
        if nullable:
            return None
        raise BadRequest(f"{field} must be a whole number, not empty.")
    text = str(value).strip()
    if isinstance(value, bool) or not _DIGITS_RE.fullmatch(text) or int(text) > MAX_COUNT:
        raise BadRequest(f"{field} must be a whole number from 0 to {MAX_COUNT}.")
    return int(text)


def _check_lengths(monitor):
    for field in monitor._meta.concrete_fields:
        value = getattr(monitor, field.attname)
        if field.max_length and value is not None and len(str(value)) > field.max_length:
            raise BadRequest(f"{field.name} is longer than {field.max_length} characters.")
        if field.name in INDEXED_TEXT_FIELDS and len(value.encode()) > MAX_INDEXED_BYTES:
            raise BadRequest(f"{field.name} is longer than {MAX_INDEXED_BYTES} bytes in UTF-8.")
        if isinstance(value, str) and "\x00" in value:
            raise BadRequest(f"{field.name} must not contain NUL characters.")


def _check_location(monitor):
    # Resolving paths costs syscalls: skip it when the write leaves local_dir as stored
    # (deleting a folder checks the root again at that moment anyway).
    changed = monitor.local_dir != getattr(monitor, "stored_local_dir", None)
    if changed and monitor.local_dir and not is_inside_root(monitor.local_dir):
        raise BadRequest("local_dir must be a folder inside the download root.")
    if monitor.name and not is_plain_name(monitor.name):
        raise BadRequest(
            "name must be a plain file name: no folders, no .. and no control characters."
        )


def check_download_url(url):
    """Refuse a URL that cannot be downloaded: only absolute http(s) URLs are.

    With ``FILEMONITOR_BLOCK_PRIVATE_NETWORKS`` a host that resolves to a loopback,
    private, link-local... address (engine.guard) is refused too; the worker checks
    again on every connection it makes, redirects included.
    """
    refusal = BadRequest("url must be an absolute http:// or https:// URL.")
    try:
        parts = urlsplit(url or "")
        host, port = parts.hostname, parts.port
    except ValueError:  # e.g. "http://[::1" or a port that is not a number
        raise refusal from None
    if parts.scheme.lower() not in DOWNLOAD_SCHEMES or not host:
        raise refusal
    if settings.FILEMONITOR_BLOCK_PRIVATE_NETWORKS:
        _check_public_host(host, port or (443 if parts.scheme.lower() == "https" else 80))


def _check_public_host(host, port):
    try:
        blocked = blocked_addresses(host, port)
    except (OSError, UnicodeError, ValueError):
        return  # no address (yet): the worker's connect-time check has the last word
    if blocked:
        raise BadRequest(f"url: {host} resolves to {blocked[0]}, an address downloads may not use.")


def clean_monitor(monitor):
    """Normalise and check a hydrated FileMonitor in place, before it is saved.

    Text fields become strings, ``size``/``progress`` ints, an empty ``md5sum`` null
    and a given one lower case.

    :returns: ``monitor``.
    :raises BadRequest: with a message naming the offending field.
    """
    for field in TEXT_MODEL_FIELDS:
        setattr(monitor, field, str(getattr(monitor, field)))
    if not monitor.url:
        raise BadRequest("url is required.")
    monitor.size = _as_count(monitor.size, "size", nullable=True)
    monitor.progress = _as_count(monitor.progress, "progress", nullable=False)
    if monitor.md5sum == "":
        monitor.md5sum = None
    if monitor.md5sum is not None:
        if not _MD5_RE.fullmatch(str(monitor.md5sum)):
            raise BadRequest("md5sum must be 32 hexadecimal characters or null.")
        monitor.md5sum = monitor.md5sum.lower()
    _check_lengths(monitor)
    _check_location(monitor)
    return monitor


def aware_datetimes(value):
    """``value`` (one item or a list) with naive date-times made aware in the default zone.

    Django reads a naive date-time in a filter in the default time zone anyway, and
    warns on every request (RuntimeWarning, logged); clients such as curl scripts
    send ``2021-06-01`` or ``2021-06-01T12:00``. Items that are not date-times are
    left for Django to refuse (a 400).
    """
    if isinstance(value, list):
        return [_aware(item) for item in value]
    return _aware(value)


def _aware(item):
    try:
        parsed = parse_datetime(item) if isinstance(item, str) else None
    except ValueError:  # well-formed but impossible, e.g. month 13: Django's 400
        return item
    if parsed is None or timezone.is_aware(parsed):
        return item
    return timezone.make_aware(parsed)
