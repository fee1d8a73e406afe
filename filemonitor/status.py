"""The status vocabulary of a FileMonitor row, and the one map from engine errors to it.

Clients test ``status == "Complete"``, look for ``"Error"`` (case-sensitive) or
``"HTTP Error"`` in it, and treat Queued/Starting/Downloading as in progress, so
every failure string below contains ``Error`` and none is longer than 60 characters.
"""

from .engine import errors

QUEUED = "Queued"
STARTING = "Starting"
DOWNLOADING = "Downloading"
COMPLETE = "Complete"
CONNECTION_LOST = "Connection Lost"
CANCELLED = "Error: cancelled"
WORKER_LOST = "Error: worker lost"
UNEXPECTED = "Error: unexpected failure"
#: FILEMONITOR_ROOT cannot be created or written (paths.download_root refused it).
ROOT_NOT_WRITABLE = "Error: download root not writable"
#: Found stale (no progress, no live task) after FILEMONITOR_STALE_MAX_REQUEUES re-queues.
STALLED = "Error: stalled"
STATUS_MAX_LENGTH = 60

# Most specific class first: the first isinstance match wins.
_ERROR_STATUSES = (
    (errors.HTTPStatusError, None),  # built from the reason, below
    (errors.InvalidURL, "Invalid URL Error"),
    (errors.ConnectionFailed, "Connection Error"),
    (errors.ConnectionLost, CONNECTION_LOST),
    (errors.ReadTimeout, CONNECTION_LOST),
    (errors.TruncatedBody, "Error: truncated body"),
    (errors.HashMismatch, "Error: identity hash mismatch"),
    (errors.SizeLimitExceeded, "Error: size limit exceeded"),
    (errors.DiskError, "Error: disk write failed"),
    (errors.UnsafeName, "Error: unsafe file name"),
    (errors.BlockedAddress, "Error: blocked address"),
    (errors.Cancelled, CANCELLED),
)


def status_for_error(error):
    """The legacy status string for an engine ``DownloadError``."""
    for error_class, status in _ERROR_STATUSES:
        if isinstance(error, error_class):
            if status is None:
                status = f"HTTP Error: {error.reason or error.status_code}"
            return status[:STATUS_MAX_LENGTH]
    return UNEXPECTED


def is_failure(status):
    """True for every failure status, including the legacy ``Connection Lost``."""
    return "Error" in status or status == CONNECTION_LOST


def can_requeue(status):
    """A download may be queued again when it failed or never started."""
    return status == "" or is_failure(status)
