"""The download engine: plain Python (requests; no Django, no Celery) fetching URLs to disk."""

from .errors import Cancelled, DownloadError, HashMismatch, HTTPStatusError, UnsafeName
from .fetch import FetchResult, fetch
from .retry import RetryPolicy

__all__ = [
    "Cancelled",
    "DownloadError",
    "FetchResult",
    "HTTPStatusError",
    "HashMismatch",
    "RetryPolicy",
    "UnsafeName",
    "fetch",
]
