"""requests, urllib3 and OS failures mapped onto the engine's DownloadError subclasses."""

import http.client
import ssl

import requests
import urllib3

from . import errors

__all__ = ["broken_body_error", "request_error", "stall_detail"]

_INVALID_URL_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidHeader,
)


def stall_detail(timeout):
    """The detail of a ReadTimeout mid-body, from a ``timeout`` of seconds or (connect, read)."""
    read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
    return f"no data for {read_timeout}s"


def _chain(exc):
    """``exc`` and every exception it wraps (cause, context, args, ``reason``), outermost first."""
    seen, pending = set(), [exc]
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(current.args)
        pending.extend((current.__cause__, current.__context__, getattr(current, "reason", None)))


def _os_reason(exc, fallback):
    """The strerror of the first OSError ``exc`` wraps (e.g. "Connection refused")."""
    for inner in _chain(exc):
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror
    return fallback


def broken_body_error(exc, url):
    """TruncatedBody when ``exc`` wraps an IncompleteRead, else ConnectionLost."""
    if any(isinstance(inner, http.client.IncompleteRead) for inner in _chain(exc)):
        return errors.TruncatedBody(url, "connection closed before the end of the body")
    return errors.ConnectionLost(url, _os_reason(exc, "connection broken mid-body"))


def request_error(exc, url):
    """The DownloadError for a requests exception raised before the body."""
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        response = exc.response
        return errors.TooManyRedirects(url, response.status_code if response is not None else 0)
    if isinstance(exc, _INVALID_URL_ERRORS):
        return errors.InvalidURL(url, f"invalid URL or redirect target ({type(exc).__name__})")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return errors.ReadTimeout(url, "no response headers in time")
    if isinstance(exc, requests.exceptions.SSLError):
        failed = errors.ConnectionFailed(url, f"TLS error: {_os_reason(exc, 'handshake failed')}")
        # A certificate that does not verify will not verify next time either.
        failed.retryable = not any(
            isinstance(inner, ssl.SSLCertVerificationError) for inner in _chain(exc)
        )
        return failed
    if isinstance(exc, requests.exceptions.ConnectionError):
        return _connection_error(exc, url)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return errors.ConnectionLost(url, "connection broken")
    return errors.DownloadError(url, f"request failed ({type(exc).__name__})")


def _connection_error(exc, url):
    chain = list(_chain(exc))
    if any(isinstance(inner, urllib3.exceptions.ConnectTimeoutError) for inner in chain):
        # NewConnectionError (refused, DNS) is a ConnectTimeoutError in urllib3 2.
        return errors.ConnectionFailed(url, _os_reason(exc, "could not connect"))
    if any(isinstance(inner, urllib3.exceptions.ProtocolError) for inner in chain):
        return errors.ConnectionLost(url, _os_reason(exc, "connection closed before a response"))
    return errors.ConnectionFailed(url, _os_reason(exc, "could not connect"))
