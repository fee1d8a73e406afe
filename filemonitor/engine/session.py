"""The requests Session fetch() uses by default, and the URL and credentials it is handed."""

import os
import threading
from urllib.parse import urlsplit

import requests

from . import errors
from .naming import split_credentials

__all__ = ["USER_AGENT", "default_session", "prepare_url"]

USER_AGENT = "filemonitor-engine/1.0"

_session_lock = threading.Lock()
_session = None


def default_session():
    """The process-wide Session fetch() uses when the caller passes none.

    Created on first use, and afresh in a forked child: pooled sockets must
    not be shared between processes (Celery's prefork pool forks after import).
    """
    global _session
    with _session_lock:
        if _session is None:
            _session = requests.Session()
            _session.headers["User-Agent"] = USER_AGENT
        return _session


def _forget_session_in_child():
    global _session, _session_lock
    _session_lock = threading.Lock()
    _session = None


os.register_at_fork(after_in_child=_forget_session_in_child)


def prepare_url(url, auth):
    """(URL without userinfo, auth to send); InvalidURL unless an http(s) URL with a host."""
    bare, url_auth = split_credentials(url)
    if not isinstance(bare, str):
        raise errors.InvalidURL(None, f"URL must be a string, not {type(url).__name__}")
    try:
        parts = urlsplit(bare)
        host = parts.hostname
        parts.port  # noqa: B018 - parsing the port validates it
    except ValueError as exc:
        raise errors.InvalidURL(bare, f"malformed URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise errors.InvalidURL(bare, "not an http or https URL with a host")
    if auth is None:
        auth = url_auth
    elif isinstance(auth, list):
        auth = tuple(auth)
    return bare, auth
