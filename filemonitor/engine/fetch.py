"""fetch(): stream one URL into a directory, with resume, retries and an MD5 taken on the fly."""

import http.client
import logging
import os
from dataclasses import dataclass

import requests
import urllib3

from . import errors, guard
from .failures import broken_body_error, request_error, stall_detail
from .headers import (
    content_length,
    content_range,
    int_or_none,
    str_or_none,
    unsatisfied_length,
    validators,
)
from .naming import is_plain_name, redact_url, resolve_name
from .partfile import PartFile, new_md5
from .retry import RetryPolicy
from .session import USER_AGENT, default_session, prepare_url

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_TIMEOUT", "FetchResult", "default_session", "fetch"]

# 64 KiB to 4 MiB reads measure alike on a 1 GiB loopback download
# (bench/engine_chunks.py): MD5 and page-cache copies dominate. 1 MiB means
# ~1000 callbacks per GiB and at most 1 MiB re-fetched after a read timeout.
DEFAULT_CHUNK_SIZE = 1 << 20
DEFAULT_TIMEOUT = (10, 30)  # (connect, read) seconds; the read timeout is the stall limit


@dataclass(frozen=True)
class FetchResult:
    """A completed download.

    ``path`` is ``os.path.join(dest_dir, name)`` as a str (JSON- and
    model-friendly), ``size`` its length in bytes, ``md5`` lowercase hex.
    """

    path: str
    name: str
    size: int
    md5: str


def fetch(
    url,
    dest_dir,
    *,
    name=None,
    expected_md5=None,
    auth=None,
    session=None,
    on_start=None,
    on_progress=None,
    should_stop=None,
    policy=None,
    max_size=None,
    chunk_size=DEFAULT_CHUNK_SIZE,
    direct_write_min_size=None,
    timeout=DEFAULT_TIMEOUT,
    allow_address=None,
):
    """Download ``url`` into the existing directory ``dest_dir``; return a FetchResult.

    The body grows in ``<name>.part`` (0644, never via a symlink) and becomes
    ``<name>`` only when complete and matching ``expected_md5`` (if given).
    ``name``: a plain name (naming.is_plain_name) or UnsafeName; None means
    Content-Disposition, else the requested URL's basename, else DEFAULT_NAME.
    ``auth``: (user, password); None means the URL's userinfo, if any.
    Callbacks run in the caller's thread: ``on_start(name, total)`` for each
    response whose body is used; ``on_progress(done, total)`` right after it
    and after every chunk (``done`` includes resumed bytes, restarts at 0 if
    the server ignores a Range); ``should_stop()`` after every chunk and
    between attempts. ``total`` is the full size, or None when unknown.
    ``direct_write_min_size``: bodies of a known size at least this big are
    written around the page cache (O_DIRECT; appenders.DirectAppender); 0 never,
    None appenders.DIRECT_MIN_BYTES.
    Retryable errors are retried per ``policy``, resuming with Range/If-Range
    when the server gave a validator; with an explicit ``name`` a .part left
    by a killed process is resumed. Failures raise DownloadError subclasses
    and leave no file and no .part behind.
    ``allow_address(ip, port) -> bool`` (e.g. guard.allow_public): every
    connection, redirects included, is checked against it once connected and
    before anything is sent; a refused one raises BlockedAddress. It runs on
    a fresh session of its own, so it cannot be combined with ``session``.
    """
    hooks = (on_start, on_progress, should_stop)
    limits = (max_size, chunk_size, timeout, direct_write_min_size)
    options = {"name": name, "expected_md5": expected_md5, "auth": auth, "session": session}
    if allow_address is None:
        return _Download(url, dest_dir, hooks, limits, policy or RetryPolicy(), **options).run()
    if session is not None:
        raise ValueError("pass allow_address or session, not both")
    with guard.mount_guard(requests.Session(), allow_address) as guarded:
        guarded.headers["User-Agent"] = USER_AGENT
        options["session"] = guarded
        return _Download(url, dest_dir, hooks, limits, policy or RetryPolicy(), **options).run()


class _Download:
    """State of one fetch() call across its attempts."""

    def __init__(self, url, dest_dir, hooks, limits, policy, *, name, expected_md5, auth, session):
        self.url, self.auth = prepare_url(url, auth)
        self.safe_url = redact_url(self.url)
        if name is not None and not is_plain_name(name):
            raise errors.UnsafeName(self.safe_url, f"not a plain file name: {name!r}")
        self.dest_dir = dest_dir
        self.name = name
        self.expected_md5 = expected_md5.strip().lower() if expected_md5 else None
        self.session = session or default_session()
        self.on_start, self.on_progress, self.should_stop = hooks
        self.policy = policy
        self.max_size, self.chunk_size, self.timeout, self.direct_write_min_size = limits
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.part = PartFile(dest_dir, name) if name else None
        self.offset = 0  # bytes in the .part that belong to the file
        self.digest = None  # MD5 of those bytes; None until computed
        self.total = None  # full size, when the server told us
        self.etag = self.last_modified = None  # validators for If-Range
        self.blind_resume = False  # a .part from an earlier process without a sidecar

    def run(self):
        logger.info("Fetching %s into %s", self.safe_url, self.dest_dir)
        try:
            if self.part is not None:
                self._adopt_leftover_part()
            return self._publish(self._attempts())
        except errors.DownloadError as exc:
            self._discard()
            logger.info("Fetch of %s failed: %s", self.safe_url, exc.detail)
            raise
        except OSError as exc:
            self._discard()
            detail = f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc)
            logger.warning("Fetch of %s failed on disk: %s", self.safe_url, detail)
            raise errors.DiskError(self.safe_url, detail) from exc
        except BaseException:
            self._discard()
            raise

    def _attempts(self):
        """Run attempts until one completes; return the MD5 object of the whole body."""
        attempts = self.policy.max_attempts
        for attempt in range(1, attempts + 1):
            self._check_stop()
            try:
                return self._attempt()
            except errors.DownloadError as exc:
                if not exc.retryable or attempt == attempts:
                    raise
                delay = self.policy.delay(attempt, exc.retry_after)
                logger.warning(
                    "Attempt %s/%s for %s failed (%s); retrying in %.2fs from byte %s",
                    attempt, attempts, self.safe_url, exc.detail, delay, self._range_start(),
                )  # fmt: skip
                if not self.policy.wait(delay, self.should_stop):
                    raise errors.Cancelled(self.safe_url, "cancelled") from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt(self):
        digest = self._exchange(self._range_start())
        if digest is None:  # the .part was unusable and is gone: ask for the whole file
            digest = self._exchange(0)
        return digest

    def _exchange(self, start):
        """One request and its response; the MD5 object when the body is complete.

        None means "the .part does not fit this resource and was dropped"
        (only possible when ``start`` > 0).
        """
        with self._request(start) as resp:
            if resp.status_code == 416 and start:
                return self._on_unsatisfiable(resp)
            self._check_status(resp)
            self._adopt_name(resp)
            if not self._begin_body(resp, start):
                self._drop_part()
                return None
            self._announce()
            return self._receive(resp)

    def _request(self, start):
        # identity: we store the bytes as served (a .gz stays a .gz) and Range
        # offsets and Content-Length then count the same bytes we write.
        headers = {"Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
            if self._validator():
                headers["If-Range"] = self._validator()
        self.session.max_redirects = self.policy.max_redirects
        try:
            return self.session.get(
                self.url, headers=headers, auth=self.auth, stream=True, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise request_error(exc, self.safe_url) from exc
        except errors.BlockedAddress as exc:  # from guard.py, which does not know the URL
            raise errors.BlockedAddress(self.safe_url, exc.detail) from None
        except ValueError as exc:  # includes urllib3's LocationValueError
            raise errors.InvalidURL(self.safe_url, "unusable URL or redirect target") from exc
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            # What requests lets through unwrapped, e.g. while draining a redirect.
            raise broken_body_error(exc, self.safe_url) from exc

    def _check_status(self, resp):
        if 200 <= resp.status_code <= 299:
            return
        retry_after = resp.headers.get("Retry-After")
        raise errors.HTTPStatusError(self.safe_url, resp.status_code, resp.reason, retry_after)

    def _adopt_name(self, resp):
        if self.part is None:
            self.name = resolve_name(resp.headers.get("Content-Disposition"), self.url)
            self.part = PartFile(self.dest_dir, self.name)
            logger.debug("Saving %s as %r", self.safe_url, self.name)

    def _begin_body(self, resp, start):
        """Set offset/total/digest for this body; False when a 206 does not match the .part."""
        if resp.status_code != 206:
            if start:
                logger.info("%s answered a Range with the whole file; restarting", self.safe_url)
            self.offset, self.digest = 0, new_md5()
            self.total = content_length(resp)
            self.etag, self.last_modified = validators(resp)
            return True
        first, total = content_range(resp)
        if first != start or (None not in (self.total, total) and total != self.total):
            if start:
                logger.info("%s sent a range that does not fit the .part", self.safe_url)
                return False
            raise errors.HTTPStatusError(self.safe_url, 206, "unexpected Content-Range")
        if start == 0:
            self.offset, self.digest = 0, new_md5()
        elif self.digest is None:
            self.digest = self.part.hash_prefix(self.offset)
        if total is not None:
            self.total = total
        return True

    def _announce(self):
        """Enforce max_size, record the sidecar for a fresh .part, and call on_start."""
        if self.max_size is not None and self.total is not None and self.total > self.max_size:
            raise errors.SizeLimitExceeded(
                self.safe_url, f"{self.total} bytes is over the {self.max_size}-byte limit"
            )
        if self.offset == 0:
            meta = {"etag": self.etag, "last_modified": self.last_modified, "total": self.total}
            self.part.write_meta(meta)
        if self.on_start is not None:
            self.on_start(self.name, self.total)
        if self.on_progress is not None:
            self.on_progress(self.offset, self.total)

    def _receive(self, resp):
        """Stream the body into the .part; the MD5 object once it is complete."""
        remaining = None if self.total is None else self.total - self.offset
        writer = self.part.open_writer(
            self.offset, self.digest, self.chunk_size, remaining, self.direct_write_min_size
        )
        complete = False
        try:
            self._pump(resp, writer)
            complete = self.total is None or self.offset >= self.total
        finally:
            writer.close(sync=complete)
        if not complete:
            raise errors.TruncatedBody(
                self.safe_url, f"body ended at byte {self.offset} of {self.total}"
            )
        return self.digest

    def _pump(self, resp, writer):
        read = resp.raw.read
        chunk_size, max_size = self.chunk_size, self.max_size
        on_progress, should_stop = self.on_progress, self.should_stop
        try:
            while chunk := read(chunk_size, decode_content=False):
                if max_size is not None and self.offset + len(chunk) > max_size:
                    raise errors.SizeLimitExceeded(
                        self.safe_url, f"body exceeds the {max_size}-byte limit"
                    )
                writer.put(chunk)
                self.offset += len(chunk)
                if on_progress is not None:
                    on_progress(self.offset, self.total)
                if should_stop is not None and should_stop():
                    raise errors.Cancelled(self.safe_url, "cancelled")
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise errors.ReadTimeout(self.safe_url, stall_detail(self.timeout)) from exc
        except (urllib3.exceptions.HTTPError, http.client.HTTPException) as exc:
            raise broken_body_error(exc, self.safe_url) from exc

    def _on_unsatisfiable(self, resp):
        """416 to our Range: the .part is either already whole, or not this file."""
        total = self.total if self.total is not None else unsatisfied_length(resp)
        if total is None or self.offset != total:
            logger.info("%s: 416 for a .part of %s bytes; restarting", self.safe_url, self.offset)
            self._drop_part()
            return None
        logger.info("%s: the .part already holds all %s bytes", self.safe_url, total)
        self.total = total
        if self.digest is None:
            self.digest = self.part.hash_prefix(self.offset)
        self._announce()
        return self.digest

    def _adopt_leftover_part(self):
        """Resume from a .part an earlier (killed) process left for this explicit name."""
        size = self.part.size()
        if not size:
            return
        meta = self.part.read_meta()
        if meta is None:
            # No sidecar: nothing to check the prefix against but the final MD5.
            self.blind_resume = True
        else:
            self.etag = str_or_none(meta.get("etag"))
            self.last_modified = str_or_none(meta.get("last_modified"))
            self.total = int_or_none(meta.get("total"))
        if self.total is not None and size > self.total:
            self._drop_part()
            return
        self.offset = size
        logger.info("Found %s bytes of %r from an earlier run", size, self.name)

    def _validator(self):
        return self.etag or self.last_modified

    def _range_start(self):
        # Resuming without a validator could splice two versions of the file.
        if self.offset and (self._validator() or self.blind_resume):
            return self.offset
        return 0

    def _drop_part(self):
        self.part.discard()
        self.offset, self.digest, self.blind_resume = 0, None, False

    def _discard(self):
        if self.part is not None:
            self.part.discard()

    def _check_stop(self):
        if self.should_stop is not None and self.should_stop():
            raise errors.Cancelled(self.safe_url, "cancelled")

    def _publish(self, digest):
        md5 = digest.hexdigest()
        if self.expected_md5 and md5 != self.expected_md5:
            raise errors.HashMismatch(self.safe_url, self.expected_md5, md5)
        path = os.fspath(self.part.publish())
        logger.info("Fetched %s: %s bytes, md5 %s", self.safe_url, self.offset, md5)
        return FetchResult(path=path, name=self.name, size=self.offset, md5=md5)
