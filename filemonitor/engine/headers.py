"""Readers of the response headers (and .part sidecar values) a download relies on."""

__all__ = [
    "content_length",
    "content_range",
    "int_or_none",
    "str_or_none",
    "unsatisfied_length",
    "validators",
]


def content_length(resp):
    """The Content-Length as an int, or None when missing or malformed."""
    return int_or_none(resp.headers.get("Content-Length"))


def content_range(resp):
    """(first byte, full length or None) from a 206's ``Content-Range: bytes a-b/n``."""
    unit, _, spec = resp.headers.get("Content-Range", "").strip().partition(" ")
    span, _, length = spec.partition("/")
    first = int_or_none(span.partition("-")[0])
    if unit.lower() != "bytes" or first is None:
        return None, None
    return first, int_or_none(length)


def unsatisfied_length(resp):
    """The full length from a 416's ``Content-Range: bytes */n``, or None."""
    value = resp.headers.get("Content-Range", "")
    return int_or_none(value.rpartition("/")[2]) if value.lower().startswith("bytes */") else None


def validators(resp):
    """(strong ETag, Last-Modified) that If-Range may carry; (None, None) if ranges are refused."""
    if resp.headers.get("Accept-Ranges", "").strip().lower() == "none":
        return None, None
    etag = resp.headers.get("ETag")
    # A weak ETag must not be used in If-Range (RFC 9110 13.1.5).
    strong = etag if etag and not etag.startswith("W/") else None
    return strong, resp.headers.get("Last-Modified")


def int_or_none(value):
    """A non-negative int from an int or a string of ASCII digits; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return None


def str_or_none(value):
    """``value`` if it is a non-empty str, else None."""
    return value if isinstance(value, str) and value else None
