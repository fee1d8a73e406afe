"""The exceptions fetch() raises: one root, one subclass per thing that can go wrong."""

from .naming import redact_url

__all__ = [
    "BlockedAddress",
    "Cancelled",
    "ConnectionFailed",
    "ConnectionLost",
    "DiskError",
    "DownloadError",
    "HTTPStatusError",
    "HashMismatch",
    "InvalidURL",
    "ReadTimeout",
    "SizeLimitExceeded",
    "TooManyRedirects",
    "TruncatedBody",
    "UnsafeName",
]


class DownloadError(Exception):
    """A download failed.

    ``url`` never carries credentials (it is redacted here, whatever the caller
    passed), ``detail`` says what happened, and ``retryable`` tells the retry
    loop whether another attempt could succeed.
    """

    retryable = False
    #: Seconds (or an HTTP-date) the server asked us to wait; see RetryPolicy.delay.
    retry_after = None

    def __init__(self, url, detail):
        self.url = redact_url(url) if url else url
        self.detail = detail
        super().__init__(self.url, detail)

    def __str__(self):
        return f"{self.detail} ({self.url})" if self.url else str(self.detail)


class HTTPStatusError(DownloadError):
    """The server answered with a status that carries no usable body.

    Retryable for 408, 429 and 5xx, which describe a passing condition.
    """

    def __init__(self, url, status_code, reason="", retry_after=None):
        self.status_code = status_code
        self.reason = reason or ""
        self.retry_after = retry_after
        self.retryable = status_code in (408, 429) or 500 <= status_code <= 599
        super().__init__(url, f"HTTP {status_code} {self.reason}".rstrip())


class TooManyRedirects(HTTPStatusError):
    """The redirect chain was longer than ``RetryPolicy.max_redirects`` (or looped)."""

    def __init__(self, url, status_code=0, reason="Too many redirects"):
        super().__init__(url, status_code, reason)
        self.retryable = False


class ConnectionFailed(DownloadError):
    """No connection could be made (refused, DNS failure, connect timeout, TLS)."""

    retryable = True


class ConnectionLost(DownloadError):
    """An established connection broke (reset, or closed before a response)."""

    retryable = True


class ReadTimeout(DownloadError):
    """The server stopped sending for longer than the read timeout: a stall."""

    retryable = True


class TruncatedBody(DownloadError):
    """The body ended before the advertised length."""

    retryable = True


class BlockedAddress(DownloadError):
    """The connection reached an address the caller's ``allow_address`` refuses (guard.py)."""


class InvalidURL(DownloadError):
    """The URL is malformed, or its scheme is not http or https."""


class HashMismatch(DownloadError):
    """The downloaded bytes do not have the expected MD5."""

    def __init__(self, url, expected, actual):
        self.expected = expected
        self.actual = actual
        super().__init__(url, f"MD5 mismatch: expected {expected}, got {actual}")


class UnsafeName(DownloadError):
    """An explicitly given file name is not a plain, safe base name."""


class SizeLimitExceeded(DownloadError):
    """The file is larger than the ``max_size`` the caller allows."""


class DiskError(DownloadError):
    """Writing the file failed (disk full, quota, permissions, read-only, symlink)."""


class Cancelled(DownloadError):
    """``should_stop()`` returned True."""
