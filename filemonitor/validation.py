"""Checks on a FileMonitor before it is saved: bad input is a 400, never a 500."""

import re
from urllib.parse import urlsplit

from tastypie.exceptions import BadRequest

from .engine.naming import is_plain_name
from .paths import is_inside_root

_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
DOWNLOAD_SCHEMES = ("http", "https")


def _as_count(value, field, *, nullable):
    """Coerce a JSON number or numeric string to a non-negative int."""
    if value is None or value == "":
        if nullable:
            return None
        raise BadRequest(f"{field} must be a whole number, not empty.")
    if isinstance(value, bool):
        raise BadRequest(f"{field} must be a whole number.")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadRequest(f"{field} must be a whole number, got {str(value)[:40]!r}.") from None
    if number < 0 or number > 2**63 - 1:
        raise BadRequest(f"{field} must be between 0 and 2**63-1.")
    return number


def _check_lengths(monitor):
    for field in monitor._meta.concrete_fields:
        value = getattr(monitor, field.attname)
        if field.max_length and value is not None and len(str(value)) > field.max_length:
            raise BadRequest(f"{field.name} is longer than {field.max_length} characters.")
        if isinstance(value, str) and "\x00" in value:
            raise BadRequest(f"{field.name} must not contain NUL characters.")


def _check_location(monitor):
    if monitor.local_dir and not is_inside_root(monitor.local_dir):
        raise BadRequest("local_dir must be a folder inside the download root.")
    if monitor.name and not is_plain_name(monitor.name):
        raise BadRequest("name must be a plain file name (no folders, '..' or control characters).")


def check_download_url(url):
    """Refuse a URL that cannot be downloaded: only absolute http(s) URLs are."""
    parts = urlsplit(url or "")
    if parts.scheme.lower() not in DOWNLOAD_SCHEMES or not parts.hostname:
        raise BadRequest("url must be an absolute http:// or https:// URL.")


def clean_monitor(monitor):
    """Normalise and check a hydrated FileMonitor in place.

    :raises BadRequest: with a message naming the offending field.
    """
    for field in ("url", "local_dir", "name", "status", "celery_task_id", "tags"):
        value = getattr(monitor, field)
        if value is None:
            raise BadRequest(f"{field} must be a string, not null.")
        if not isinstance(value, str):
            setattr(monitor, field, str(value))
    if not monitor.url:
        raise BadRequest("url is required.")
    monitor.size = _as_count(monitor.size, "size", nullable=True)
    monitor.progress = _as_count(monitor.progress, "progress", nullable=False)
    if monitor.md5sum == "":
        monitor.md5sum = None
    if monitor.md5sum is not None and not _MD5_RE.match(str(monitor.md5sum)):
        raise BadRequest("md5sum must be 32 hexadecimal characters or null.")
    if monitor.md5sum is not None:
        monitor.md5sum = monitor.md5sum.lower()
    _check_lengths(monitor)
    _check_location(monitor)
    return monitor
