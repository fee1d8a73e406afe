"""Large downloads write around the page cache (O_DIRECT), and fall back when they cannot.

Every engine test already runs in both write modes (conftest.write_mode); these
check that O_DIRECT is really on (or off) on the .part while it grows, read from
/proc, and the fallbacks a file system that refuses it takes.
"""

import errno
import fcntl
import hashlib
import os
from pathlib import Path

import pytest

from filemonitor.engine import appenders, fetch
from filemonitor.engine.errors import DiskError

from .helpers import MIB, listing

#: Not a multiple of the block size: the tail goes through the page cache.
ODD_SIZE = 3 * MIB + 1234
#: A short direct write's length: whole 512-byte sectors (the kernel takes it), not 4096s.
DIRECT_SHORT = 3 * 512


@pytest.fixture
def write_mode(monkeypatch):
    """Overrides conftest's: direct for any known size, and several staging buffers per file."""
    monkeypatch.setattr(appenders, "DIRECT_MIN_BYTES", MIB)
    monkeypatch.setattr(appenders, "DIRECT_BUFFER_BYTES", 256 << 10)
    return "direct"


def _is_direct(fd):
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


def _part_flags():
    """The open-file flags of this process's .part descriptors, read from /proc."""
    flags = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (os.listdir's own descriptor)
        if target.endswith(".part"):
            for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
                if line.startswith("flags:"):
                    flags.append(int(line.split()[1], 8))
    return flags


class FlagProbe:
    """An on_progress callback that records whether the .part is open with O_DIRECT."""

    def __init__(self):
        self.direct = []

    def __call__(self, done, total):
        self.direct.extend(bool(flags & os.O_DIRECT) for flags in _part_flags())


def _fetch(server, dest, path, **kwargs):
    probe = FlagProbe()
    result = fetch(server.url(path), dest, on_progress=probe, chunk_size=64 << 10, **kwargs)
    return result, probe


def test_a_large_download_is_written_with_o_direct(server, dest, no_writer_threads_left):
    resource = server.add("/big.bin", size=ODD_SIZE, seed=3)
    result, probe = _fetch(server, dest, "/big.bin")
    assert (result.size, result.md5) == (ODD_SIZE, resource.md5)
    # On from the first staged buffer's write (the writer thread's pace) to the end.
    first_on = probe.direct.index(True)
    assert all(probe.direct[first_on:])
    data = (dest / "big.bin").read_bytes()
    assert hashlib.md5(data).hexdigest() == resource.md5
    assert listing(dest) == ["big.bin"]


def test_a_small_download_goes_through_the_page_cache(server, dest):
    resource = server.add("/small.bin", size=MIB - 1)
    result, probe = _fetch(server, dest, "/small.bin")
    assert result.md5 == resource.md5
    assert probe.direct and not any(probe.direct)


def test_unknown_size_goes_through_the_page_cache(server, dest):
    resource = server.add("/chunked.bin", size=ODD_SIZE, chunked=True)
    result, probe = _fetch(server, dest, "/chunked.bin")
    assert result.md5 == resource.md5
    assert probe.direct and not any(probe.direct)


def test_a_file_system_refusing_o_direct_gets_buffered_writes(server, dest, monkeypatch):
    # No file system here refuses O_DIRECT (ext4 and tmpfs take it): refuse it as one would.
    real_fcntl = fcntl.fcntl

    def refusing_fcntl(fd, command, arg=0):
        if command == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fcntl(fd, command, arg)

    monkeypatch.setattr(appenders.fcntl, "fcntl", refusing_fcntl)
    resource = server.add("/big.bin", size=ODD_SIZE)
    result, probe = _fetch(server, dest, "/big.bin")
    assert (result.size, result.md5) == (ODD_SIZE, resource.md5)
    assert probe.direct and not any(probe.direct)
    assert listing(dest) == ["big.bin"]


def test_a_direct_write_refused_for_its_alignment_is_redone_buffered(server, dest, monkeypatch):
    # As a device with blocks larger than DIRECT_ALIGN would answer: EINVAL, nothing written.
    real_write = os.write
    refused = []

    def write(fd, data):
        if not refused and _is_direct(fd):
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(appenders.os, "write", write)
    resource = server.add("/big.bin", size=ODD_SIZE)
    result, probe = _fetch(server, dest, "/big.bin")
    assert refused == [256 << 10]
    assert (result.size, result.md5) == (ODD_SIZE, resource.md5)
    assert not any(probe.direct[len(probe.direct) // 2 :])  # off for the rest of the download
    assert hashlib.md5((dest / "big.bin").read_bytes()).hexdigest() == resource.md5


def test_a_short_direct_write_goes_on_from_where_it_stopped(server, dest, monkeypatch):
    # A short direct write, then a refusal of the rest (as a device of 4096-byte blocks
    # refuses a buffer left 512-aligned): only the bytes not yet written follow, buffered.
    real_write = os.write
    calls = []

    def write(fd, data):
        if len(calls) < 2 and _is_direct(fd):
            calls.append(len(data))
            if len(calls) == 1:
                return real_write(fd, memoryview(data)[:DIRECT_SHORT])
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(appenders.os, "write", write)
    resource = server.add("/big.bin", size=ODD_SIZE, seed=11)
    result, _probe = _fetch(server, dest, "/big.bin")
    assert calls == [256 << 10, (256 << 10) - DIRECT_SHORT]
    assert (result.size, result.md5) == (ODD_SIZE, resource.md5)
    assert hashlib.md5((dest / "big.bin").read_bytes()).hexdigest() == resource.md5


def test_other_direct_write_errors_fail_the_download(server, dest, monkeypatch):
    real_write = os.write

    def disk_full(fd, data):
        if _is_direct(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(appenders.os, "write", disk_full)
    server.add("/big.bin", size=ODD_SIZE)
    with pytest.raises(DiskError) as caught:
        fetch(server.url("/big.bin"), dest, chunk_size=64 << 10)
    assert "No space left" in caught.value.detail
    assert listing(dest) == []


def test_resuming_mid_block_writes_the_lead_buffered_then_goes_direct(server, dest, fast_policy):
    cut = 5 * 4096 + 777  # the resumed attempt starts 777 bytes into a block
    resource = server.add("/big.bin", size=ODD_SIZE, seed=9, drop_after=cut)
    result, probe = _fetch(server, dest, "/big.bin", policy=fast_policy)
    assert (result.size, result.md5) == (ODD_SIZE, resource.md5)
    assert [r.headers.get("range") for r in server.requests_for("/big.bin")] == [
        None,
        f"bytes={cut}-",
    ]
    assert any(probe.direct)
    assert hashlib.md5((dest / "big.bin").read_bytes()).hexdigest() == resource.md5


@pytest.mark.parametrize(
    ("min_size", "direct"),
    [(0, False), (ODD_SIZE + 1, False), (ODD_SIZE, True)],
    ids=["zero-means-never", "just-too-small", "just-big-enough"],
)
def test_the_caller_sets_the_size_that_goes_direct(server, dest, min_size, direct):
    resource = server.add("/big.bin", size=ODD_SIZE)
    result, probe = _fetch(server, dest, "/big.bin", direct_write_min_size=min_size)
    assert result.md5 == resource.md5
    assert any(probe.direct) is direct
