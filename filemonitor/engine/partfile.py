"""The ``<name>.part`` file a download grows in, its sidecar, and the hash-and-write thread."""

import errno
import fcntl
import hashlib
import json
import logging
import mmap
import os
import queue
import stat
import threading
from pathlib import Path

from .naming import META_SUFFIX, PART_SUFFIX

logger = logging.getLogger(__name__)

__all__ = ["FILE_MODE", "PartFile", "PartWriter", "new_md5"]

FILE_MODE = 0o644
# Bytes allowed to wait between the network reader and the writer thread:
# enough to ride out a slow write, small enough to keep memory flat.
QUEUE_BYTES = 16 << 20
_READ_SIZE = 1 << 20
#: Written bytes after which the kernel is asked to start writing them to disk.
WRITEBACK_BYTES = 32 << 20
#: Downloads expecting at least this many more bytes write around the page cache
#: (O_DIRECT), unless the caller says otherwise.
DIRECT_MIN_BYTES = 64 << 20
#: O_DIRECT wants memory, length and file offset aligned to the device's logical
#: block; 4096 suits devices of 512- and 4096-byte blocks alike.
DIRECT_ALIGN = 4096
#: A direct writer's page-aligned staging buffer: one disk write per this many bytes.
DIRECT_BUFFER_BYTES = 1 << 20
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
        least ``direct_min_bytes`` (0: never; None: DIRECT_MIN_BYTES), they are
        written around the page cache (see DirectAppender).
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
        threshold = DIRECT_MIN_BYTES if direct_min_bytes is None else direct_min_bytes
        direct = bool(threshold) and expected_bytes is not None and expected_bytes >= threshold
        depth = max(2, QUEUE_BYTES // max(chunk_size, 1))
        return PartWriter(fd, digest, depth, direct=direct)

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
    """

    def __init__(self, fd, digest, depth, direct=False):
        self.digest = digest
        self._file = open(fd, "wb", buffering=0)
        self._closed = False
        appender = (DirectAppender if direct else FileAppender)(self._file)
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
                os.fsync(self._file.fileno())
        finally:
            self._file.close()
        if error is not None:
            raise error


class FileAppender:
    """Writes whole chunks through the page cache, starting their disk writeback as it goes.

    Asking the kernel early to write back (POSIX_FADV_DONTNEED starts writeback of
    dirty pages on Linux, without waiting) spreads the disk work over the download,
    so the final fsync has little left to flush.
    """

    def __init__(self, raw_file):
        self._fd = raw_file.fileno()
        self._since_flush = 0
        self._flushed_to = os.lseek(self._fd, 0, os.SEEK_CUR)

    def write(self, chunk):
        _write_all(self._fd, memoryview(chunk))
        self._since_flush += len(chunk)
        if self._since_flush >= WRITEBACK_BYTES and hasattr(os, "posix_fadvise"):
            end = self._flushed_to + self._since_flush
            os.posix_fadvise(self._fd, self._flushed_to, self._since_flush, os.POSIX_FADV_DONTNEED)
            self._flushed_to, self._since_flush = end, 0

    def close(self, flush=True):
        """Nothing is held back: every write() went to the file."""


class DirectAppender:
    """Writes chunks around the page cache (O_DIRECT), from one reused aligned buffer.

    Why: a buffered write() copies every byte into page-cache pages the kernel
    must first allocate, then write back. On the benchmark's VM that copy was the
    busiest step of a large download (freshly allocated pages are slow to touch;
    docs/benchmarks.md), while the disk takes O_DIRECT writes at several GB/s with
    little CPU and leaves the final fsync nothing to flush. Chunks are staged in
    a page-aligned buffer and written a whole buffer at a time. What cannot be
    aligned goes through the page cache: the bytes before the first block boundary
    (a resume mid-block), the tail after the last whole block, and everything if
    the file system refuses O_DIRECT.
    """

    def __init__(self, raw_file):
        self._fd = raw_file.fileno()
        self._buffer = mmap.mmap(-1, DIRECT_BUFFER_BYTES)  # anonymous mmap: page-aligned
        self._staged = memoryview(self._buffer)
        self._filled = 0
        # Bytes to write buffered until the file offset reaches a block boundary.
        self._lead = -os.lseek(self._fd, 0, os.SEEK_CUR) % DIRECT_ALIGN
        self._direct = None  # None: not tried yet; then True or False

    def write(self, chunk):
        view = memoryview(chunk)
        if self._lead:
            lead, view = view[: self._lead], view[self._lead :]
            _write_all(self._fd, lead)
            self._lead -= len(lead)
        room = len(self._staged)
        while view:
            taken = min(len(view), room - self._filled)
            self._staged[self._filled : self._filled + taken] = view[:taken]
            self._filled += taken
            view = view[taken:]
            if self._filled == room:
                self._write_staged(room)
                self._filled = 0

    def close(self, flush=True):
        """Write what is still staged (if ``flush``), then free the buffer."""
        try:
            if flush and self._filled:
                whole = self._filled - self._filled % DIRECT_ALIGN
                if whole:
                    self._write_staged(whole)
                self._set_direct(False)
                _write_all(self._fd, self._staged[whole : self._filled])
        finally:
            # Unmapped with the last view of it (a traceback may still hold one).
            self._filled = 0
            self._staged = self._buffer = None

    def _write_staged(self, length):
        if self._direct is None:
            self._direct = self._set_direct(True)
        try:
            _write_all(self._fd, self._staged[:length])
        except OSError as exc:
            # EINVAL: this file system wants another alignment; nothing was written.
            if not (self._direct and exc.errno == errno.EINVAL):
                raise
            self._direct = self._set_direct(False)
            _write_all(self._fd, self._staged[:length])

    def _set_direct(self, on):
        """Switch O_DIRECT on or off; whether it is now on (a refusal leaves it off)."""
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        flags = flags | os.O_DIRECT if on else flags & ~os.O_DIRECT
        try:
            fcntl.fcntl(self._fd, fcntl.F_SETFL, flags)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            logger.debug("O_DIRECT refused here (%s); writing through the page cache", exc)
            return False
        return on


def _write_all(fd, view):
    """os.write all of ``view`` (a raw write may be short)."""
    while view:
        view = view[os.write(fd, view) :]


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
