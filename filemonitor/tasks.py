"""Celery tasks: the thin adapter between a FileMonitor row and the download engine."""

import inspect
import logging
from functools import partial

from celery import Task, shared_task
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .claims import DownloadBusy, claim_monitor, finished_download, locked_download_dir
from .engine import DownloadError, RetryPolicy, fetch
from .engine.guard import allow_public
from .engine.naming import split_credentials
from .paths import remove_download_dir
from .progress import DB_CONNECTION_ERRORS, ProgressWriter
from .sealing import seal, unseal
from .stale import recover_stale_rows
from .status import COMPLETE, ROOT_NOT_WRITABLE, UNEXPECTED, status_for_error

logger = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 30
#: A database still unreachable on a fresh connection: the task runs again later (its
#: folder stays, so it resumes), backing off from 2 s to 60 s, about 7 minutes in all.
DB_RETRY = {"autoretry_for": DB_CONNECTION_ERRORS, "retry_backoff": 2, "retry_backoff_max": 60,
            "max_retries": 10}  # fmt: skip


class SealedCredentialsTask(Task):
    """Seals ``auth`` and URL credentials before the message leaves the caller."""

    def apply_async(self, args=None, kwargs=None, **options):
        bound = dict(
            inspect.signature(self.run).bind_partial(*(args or ()), **(kwargs or {})).arguments
        )
        if "url" in bound:
            bound["url"], url_auth = split_credentials(bound["url"])
            bound["auth"] = bound.get("auth") or url_auth
        if bound.get("auth") is not None:
            bound["auth"] = seal(bound["auth"])
        return super().apply_async((), bound, **options)


def _report_state(task, monitor_pk, done, total, speed):
    percent = round(100.0 * done / total, 1) if total else None
    meta = {
        "current": done,
        "total": total,
        "percent": percent,
        "speed": speed,
        "monitor_id": monitor_pk,
    }
    task.update_state(state="PROGRESS", meta=meta)


def _fetch_for(monitor, writer, url, dest_dir, name, auth):
    """Run the engine for ``monitor`` with the limits, timeouts and retries from settings."""
    return fetch(
        url,
        dest_dir,
        name=name or monitor.name or None,
        expected_md5=monitor.md5sum,
        auth=unseal(auth),
        on_start=writer.on_start,
        on_progress=writer.on_progress,
        should_stop=writer.should_stop,
        max_size=settings.FILEMONITOR_MAX_DOWNLOAD_SIZE,
        direct_write_min_size=settings.FILEMONITOR_DIRECT_WRITE_MIN_SIZE,
        allow_address=allow_public if settings.FILEMONITOR_BLOCK_PRIVATE_NETWORKS else None,
        timeout=(settings.FILEMONITOR_CONNECT_TIMEOUT, settings.FILEMONITOR_READ_TIMEOUT),
        policy=RetryPolicy(
            max_attempts=settings.FILEMONITOR_MAX_ATTEMPTS,
            backoff_max=settings.FILEMONITOR_BACKOFF_MAX,
        ),
    )


def _record_failure(writer, monitor, status):
    # A failed download leaves a clear status and no files behind.
    remove_download_dir(monitor.local_dir)
    writer.finish(status=status, local_dir="")


@shared_task(
    bind=True,
    base=SealedCredentialsTask,
    name="filemonitor.download_something",
    acks_late=True,
    reject_on_worker_lost=True,
    **DB_RETRY,
)
def download_something(self, url, download_monitor_pk=None, dir=None, name="", auth=None):
    """Download ``url`` for row ``download_monitor_pk``; return ``(full_path, pk)``.

    ``(None, pk)`` on failure, as the original did, so ``link=``/chord chains work.
    Idempotent: a redelivery resumes from the ``.part`` file left in the row's folder.
    """
    done = finished_download(self.request.id, download_monitor_pk)
    if done is not None:
        return done.full_path(), done.pk
    monitor = claim_monitor(self.request.id, url, download_monitor_pk)
    if monitor is None:
        logger.info("Row %s is gone or owned by another task; nothing to do", download_monitor_pk)
        return None, download_monitor_pk
    report = partial(_report_state, self, monitor.pk) if not self.request.is_eager else None
    interval = settings.FILEMONITOR_PROGRESS_INTERVAL
    writer = ProgressWriter(monitor.pk, self.request.id, min_interval=interval, report=report)
    try:
        with locked_download_dir(monitor, dir) as dest_dir:
            result = _fetch_for(monitor, writer, url, dest_dir, name, auth)
    except DownloadBusy:
        raise self.retry(countdown=BUSY_RETRY_SECONDS, max_retries=None) from None
    except ImproperlyConfigured as error:  # paths.download_root: the root is unusable
        logger.error("Download %s cannot start: %s", monitor.pk, error)
        _record_failure(writer, monitor, ROOT_NOT_WRITABLE)
        return None, monitor.pk
    except DownloadError as error:
        _record_failure(writer, monitor, status_for_error(error))
        logger.info("Download %s failed: %s", monitor.pk, error)
        return None, monitor.pk
    except DB_CONNECTION_ERRORS:
        raise  # DB_RETRY: the row and its folder stay as they are for the retry
    except Exception:
        _record_failure(writer, monitor, UNEXPECTED)
        raise
    writer.finish(
        status=COMPLETE, name=result.name, size=result.size, progress=result.size, md5sum=result.md5
    )
    return str(result.path), monitor.pk


@shared_task(name="filemonitor.recover_stale", ignore_result=True)
def recover_stale():
    """Celery beat's sweep: queue again (or fail) downloads whose worker vanished."""
    return recover_stale_rows().as_dict()
