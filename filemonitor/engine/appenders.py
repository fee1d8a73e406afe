"""How the bytes of a download reach its file: through the page cache, or around it (O_DIRECT)."""

import errno
import fcntl
import logging
import mmap
import os

logger = logging.getLogger(__name__)

__all__ = ["DIRECT_MIN_BYTES", "DirectAppender", "FileAppender", "for_download"]

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


def for_download(fd, expected_bytes, direct_min_bytes=None):
    """The appender for ``expected_bytes`` more bytes (None: unknown) to append to ``fd``.

    Direct when the size is known and at least ``direct_min_bytes`` (0: never;
    None: DIRECT_MIN_BYTES).
    """
    threshold = DIRECT_MIN_BYTES if direct_min_bytes is None else direct_min_bytes
    direct = bool(threshold) and expected_bytes is not None and expected_bytes >= threshold
    return DirectAppender(fd) if direct else FileAppender(fd)


class FileAppender:
    """Writes whole chunks through the page cache, starting their disk writeback as it goes.

    Asking the kernel early to write back (POSIX_FADV_DONTNEED starts writeback of
    dirty pages on Linux, without waiting) spreads the disk work over the download,
    so the final fsync has little left to flush.
    """

    def __init__(self, fd):
        self._fd = fd
        self._since_flush = 0
        self._flushed_to = os.lseek(self._fd, 0, os.SEEK_CUR)

    def write(self, chunk):
        write_all(self._fd, memoryview(chunk))
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

    def __init__(self, fd):
        self._fd = fd
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
            write_all(self._fd, lead)
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
                write_all(self._fd, self._staged[whole : self._filled])
        finally:
            # Unmapped with the last view of it (a traceback may still hold one).
            self._filled = 0
            self._staged = self._buffer = None

    def _write_staged(self, length):
        if self._direct is None:
            self._direct = self._set_direct(True)
        done = 0
        while done < length:  # a raw write may be short
            try:
                done += os.write(self._fd, self._staged[done:length])
            except OSError as exc:
                # EINVAL: the file system wants another alignment, or a short write left
                # the rest unaligned. Nothing of this write was written: go on buffered.
                if not (self._direct and exc.errno == errno.EINVAL):
                    raise
                self._direct = self._set_direct(False)

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


def write_all(fd, view):
    """os.write all of ``view`` (a raw write may be short)."""
    while view:
        view = view[os.write(fd, view) :]
