"""The ``<name>.part`` file a download grows in, its sidecar, and the hash-and-write thread."""

import errno
import hashlib
import json
import logging
import os
import queue
import stat
import threading
from pathlib import Path

from . import appenders
from .naming import META_SUFFIX, PART_SUFFIX

logger = logging.getLogger(__name__)

__all__ = ["FILE_MODE", "PartFile", "PartWriter", "new_md5"]

FILE_MODE = 0o644
# Bytes allowed to wait between the network reader and the writer thread:
# enough to ride out a slow write, small enough to keep memory flat.
QUEUE_BYTES = 16 << 20
_READ_SIZE = 1 << 20
_MAX_META_BYTES = 64 << 10
# O_NOFOLLOW: a symlink planted at our path is an error, never a way out of the
# directory. O_NONBLOCK: a planted FIFO fails to open instead of hanging us.
_SAFE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def new_md5():
    """A fresh MD5 object (an identity checksum, not security; fine under FIPS)."""
    return hashlib.md5(usedforsecurity=False)


def _open_regular(path, flags):
    """os.open ``path`` without following symlinks; OSError unless it is a regular file."""
    fd = os.open(path, flags | _SAFE_FLAGS, FILE_MODE)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class PartFile:
    """``<name>.part``, its ``<name>.part.meta`` sidecar and the final ``<name>`` in ``dest_dir``.

    Methods raise OSError; fetch() turns it into DiskError.
    """

    def __init__(self, dest_dir, name):
        self.name = name
        self.path = Path(dest_dir, name + PART_SUFFIX)
        self.meta_path = Path(dest_dir, name + META_SUFFIX)
        self.final_path = Path(dest_dir, name)

    def size(self):
        """Bytes in the .part file, 0 when there is none."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return 0
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(self.path))
        return st.st_size

    def read_meta(self):
        """The sidecar's dict; None when there is no sidecar, {} when it is unreadable."""
        try:
            fd = _open_regular(self.meta_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        with open(fd, "rb") as meta_file:
            data = meta_file.read(_MAX_META_BYTES)
        try:
            meta = json.loads(data)
        except ValueError:
            return {}
        return meta if isinstance(meta, dict) else {}

    def write_meta(self, meta):
        """Replace the sidecar with ``meta`` (JSON)."""
        fd = _open_regular(self.meta_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with open(fd, "w", encoding="utf-8") as meta_file:
            json.dump(meta, meta_file)

    def hash_prefix(self, length):
        """An MD5 object fed with the first ``length`` bytes of the .part (used once, to resume)."""
        digest = new_md5()
        remaining = length
        with open(_open_regular(self.path, os.O_RDONLY), "rb", buffering=0) as part:
            while remaining:
                block = part.read(min(_READ_SIZE, remaining))
                if not block:
                    raise OSError(errno.EIO, "part file shrank", os.fspath(self.path))
                digest.update(block)
                remaining -= len(block)
        return digest

    def open_writer(self, offset, digest, chunk_size, expected_bytes=None, direct_min_bytes=None):
        """A started PartWriter that appends at ``offset`` (the file is cut to ``offset`` first).

        ``expected_bytes``: how many bytes are still to come, when known; if at
        least ``direct_min_bytes`` (0: never; None: appenders.DIRECT_MIN_BYTES),
        they are written around the page cache (appenders.DirectAppender).
        """
        fd = _open_regular(self.path, os.O_WRONLY | os.O_CREAT)
        try:
            # Explicit mode: the file is served to others whatever our umask is.
            os.fchmod(fd, FILE_MODE)
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        try:
            appender = appenders.for_download(fd, expected_bytes, direct_min_bytes)
        except BaseException:
            os.close(fd)
            raise
        depth = max(2, QUEUE_BYTES // max(chunk_size, 1))
        return PartWriter(fd, digest, depth, appender)

    def publish(self):
        """Rename the .part to its final name and drop the sidecar; return the final path."""
        # rename(2) is atomic: readers see no file or the whole file, never a
        # growing one. It replaces a symlink at the final path rather than following it.
        os.replace(self.path, self.final_path)
        _unlink_quietly(self.meta_path)
        return self.final_path

    def discard(self):
        """Remove the .part and its sidecar; never raises (runs on failure paths)."""
        _unlink_quietly(self.path)
        _unlink_quietly(self.meta_path)


def _unlink_quietly(path):
    try:
        os.unlink(path)  # unlink removes a symlink itself, never its target
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("Could not remove %s: %s", path, exc)


class PartWriter:
    """Hashes and writes chunks in two threads of their own, one for each job.

    The network read of chunk n+1 overlaps hashing and writing earlier chunks,
    and the hash (the slowest step, about one core) never waits for the disk:
    hashlib and file writes release the GIL, so on two cores the download runs
    at the speed of MD5 alone. At most ``depth`` chunks wait for each thread, so
    memory stays bounded whatever the download size. An error in either thread
    is raised by the next put() and by close(); close() always joins both.
    ``digest`` covers exactly the bytes written once close() has returned.
    ``appender`` (appenders.for_download) writes to ``fd``, which close() closes.
    """

    def __init__(self, fd, digest, depth, appender):
        self.digest = digest
        self._fd = fd
        self._closed = False
        self._hasher = _ChunkConsumer("part-hash", digest.update, depth)
        self._writer = _ChunkConsumer("part-write", appender.write, depth, appender.close)

    def put(self, chunk):
        """Queue ``chunk`` for hashing and writing; blocks while a queue is full."""
        self._hasher.put(chunk)
        self._writer.put(chunk)

    def close(self, sync=False):
        """Let both threads finish what is queued, join them, close the file (fsync if ``sync``)."""
        if self._closed:
            return
        self._closed = True
        errors = [consumer.finish() for consumer in (self._hasher, self._writer)]
        error = next((exc for exc in errors if exc is not None), None)
        try:
            if error is None and sync:
                # Durable before the rename that announces the file as complete.
                os.fsync(self._fd)
        finally:
            os.close(self._fd)
        if error is not None:
            raise error


class _ChunkConsumer:
    """A thread that applies ``consume`` to each queued chunk, in order.

    ``on_end(ok)``, if given, runs in the thread after the last chunk; ``ok`` is
    false once a chunk has failed.
    """

    def __init__(self, name, consume, depth, on_end=None):
        self._consume = consume
        self._on_end = on_end
        self._queue = queue.Queue(maxsize=depth)
        self._error = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, chunk):
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def finish(self):
        """Drain the queue, join the thread; the error it met, if any."""
        self._queue.put(None)
        self._thread.join()
        return self._error

    def _run(self):
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so put() never blocks on a dead consumer
            try:
                self._consume(chunk)
            except BaseException as exc:  # re-raised in the caller's thread
                self._error = exc
        if self._on_end is not None:
            try:
                self._on_end(self._error is None)
            except BaseException as exc:
                self._error = self._error or exc
