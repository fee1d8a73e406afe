"""fetch() against a live server: bodies, names, callbacks, redirects, hashes, limits."""

import dataclasses
import gzip
import os
import stat
import threading

import pytest

from filemonitor.engine import (
    Cancelled,
    FetchResult,
    HashMismatch,
    RetryPolicy,
    UnsafeName,
    fetch,
)
from filemonitor.engine.errors import SizeLimitExceeded, TooManyRedirects
from filemonitor.engine.fetch import default_session
from filemonitor.engine.naming import DEFAULT_NAME, MAX_NAME_BYTES

from .helpers import MIB, Recorder, listing
from .httpserver import md5_hex, pattern_bytes

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@pytest.mark.parametrize("size", [0, 1, MIB + 17, 8 * MIB])
def test_plain_download(server, dest, size):
    resource = server.add("/f.bin", size=size, seed=size)
    result = fetch(server.url("/f.bin"), dest, chunk_size=64 << 10)
    expected = FetchResult(path=str(dest / "f.bin"), name="f.bin", size=size, md5=resource.md5)
    assert result == expected
    assert (dest / "f.bin").read_bytes() == resource.data
    assert listing(dest) == ["f.bin"]


def test_empty_file_has_the_empty_md5(server, dest):
    server.add("/empty", content=b"")
    assert fetch(server.url("/empty"), dest).md5 == EMPTY_MD5


def test_result_is_frozen(server, dest):
    server.add("/f.bin", size=10)
    result = fetch(server.url("/f.bin"), dest)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.size = 3


def test_file_mode_is_0644_whatever_the_umask(server, dest):
    server.add("/f.bin", size=1000)
    old = os.umask(0o077)
    try:
        result = fetch(server.url("/f.bin"), dest)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(result.path).st_mode) == 0o644


def test_callbacks(server, dest):
    size = MIB + 17
    server.add("/f.bin", size=size)
    seen = Recorder()
    fetch(
        server.url("/f.bin"), dest, on_start=seen.on_start, on_progress=seen.on_progress,
        chunk_size=64 << 10,
    )  # fmt: skip
    assert seen.starts == [("f.bin", size)]
    assert seen.progress[0] == (0, size)
    assert seen.progress[-1] == (size, size)
    dones = [done for done, _total in seen.progress]
    assert dones == sorted(dones) and len(dones) > 10
    assert all(total == size and done <= total for done, total in seen.progress)


def test_chunked_body_without_length(server, dest):
    size = 3 * MIB + 5
    resource = server.add("/c.bin", size=size, seed=4, chunked=True)
    seen = Recorder()
    result = fetch(server.url("/c.bin"), dest, on_start=seen.on_start, on_progress=seen.on_progress)
    assert (result.size, result.md5) == (size, resource.md5)
    assert seen.starts == [("c.bin", None)]
    assert seen.progress[-1] == (size, None)


def test_identity_encoding_is_asked_for_and_encoded_bytes_are_kept(server, dest):
    # A .gz served with Content-Encoding: gzip must stay a .gz on disk.
    packed = gzip.compress(pattern_bytes(100_000))
    server.add("/f.gz", content=packed, headers={"Content-Encoding": "gzip"})
    result = fetch(server.url("/f.gz"), dest)
    assert (dest / "f.gz").read_bytes() == packed
    assert result.md5 == md5_hex(packed)
    assert server.requests_for("/f.gz")[0].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="quoted name.txt"', "quoted name.txt"),
        ("attachment; filename=plain.txt", "plain.txt"),
        ("attachment; filename*=UTF-8''na%C3%AFve.txt", "na\u00efve.txt"),
        (
            "attachment; filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve.txt",
            "na\u00efve.txt",
        ),
        ('attachment; filename="../evil"', "evil"),
        ('attachment; filename="/etc/passwd"', "passwd"),
        ('attachment; filename="a\\b"', "b"),
        ("attachment; filename*=UTF-8''bad%01name%0A.txt", "badname.txt"),
        ('attachment; filename=".."', "url-name.bin"),
        ("attachment", "url-name.bin"),
    ],
)
def test_name_from_content_disposition(server, dest, disposition, expected):
    server.add("/url-name.bin", size=100, content_disposition=disposition)
    result = fetch(server.url("/url-name.bin"), dest)
    assert result.name == expected
    assert result.path == str(dest / expected)
    assert listing(dest) == [expected]


def test_overlong_name_from_content_disposition(server, dest):
    server.add("/long", size=100, content_disposition=f'attachment; filename="{"n" * 296}.txt"')
    result = fetch(server.url("/long"), dest)
    assert len(result.name.encode()) == MAX_NAME_BYTES
    assert result.name.endswith(".txt")
    assert listing(dest) == [result.name]


def test_name_from_url_is_unquoted(server, dest):
    server.add("/some file.bin", size=10)
    assert fetch(server.url("/some%20file.bin"), dest).name == "some file.bin"


def test_no_name_anywhere(server, dest):
    server.add("/", size=10)
    result = fetch(server.url("/"), dest)
    assert result.name == DEFAULT_NAME
    assert listing(dest) == [DEFAULT_NAME]


def test_explicit_name_wins(server, dest):
    server.add("/f.bin", size=10, content_disposition='attachment; filename="cd.bin"')
    assert fetch(server.url("/f.bin"), dest, name="mine.dat").name == "mine.dat"
    assert listing(dest) == ["mine.dat"]


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "", ".", "..", "x\x00", " x", "z" * 300])
def test_explicit_unsafe_name_is_refused(server, dest, name):
    server.add("/f.bin", size=10)
    with pytest.raises(UnsafeName):
        fetch(server.url("/f.bin"), dest, name=name)
    assert server.count("/f.bin") == 0
    assert listing(dest) == []


def test_an_existing_file_is_replaced(server, dest):
    resource = server.add("/f.bin", size=1000, seed=9)
    (dest / "f.bin").write_bytes(b"old")
    fetch(server.url("/f.bin"), dest)
    assert (dest / "f.bin").read_bytes() == resource.data


def test_redirect_chain(server, dest):
    resource = server.add("/f.bin", size=MIB, seed=2)
    server.add_redirect("/r1", "/r2", status=301)
    server.add_redirect("/r2", server.url("/f.bin"), status=302)
    result = fetch(server.url("/r1"), dest)
    # Named after the URL as requested, like the legacy downloader.
    assert (result.name, result.md5) == ("r1", resource.md5)
    assert [server.count(p) for p in ("/r1", "/r2", "/f.bin")] == [1, 1, 1]


def test_redirect_target_can_name_the_file(server, dest):
    server.add("/f.bin", size=10, content_disposition='attachment; filename="real.bin"')
    server.add_redirect("/go", "/f.bin")
    assert fetch(server.url("/go"), dest).name == "real.bin"


def test_too_many_redirects(server, dest):
    server.add_redirect("/loop", "/loop")
    with pytest.raises(TooManyRedirects) as caught:
        fetch(server.url("/loop"), dest, policy=RetryPolicy(max_redirects=3))
    assert not caught.value.retryable
    assert server.count("/loop") == 4  # the request and three redirects, not retried
    assert listing(dest) == []


def test_expected_md5_matches(server, dest):
    resource = server.add("/f.bin", size=MIB)
    result = fetch(server.url("/f.bin"), dest, expected_md5=resource.md5.upper())
    assert result.md5 == resource.md5


def test_expected_md5_mismatch_leaves_nothing(server, dest):
    resource = server.add("/f.bin", size=MIB)
    with pytest.raises(HashMismatch) as caught:
        fetch(server.url("/f.bin"), dest, expected_md5="0" * 32)
    assert (caught.value.expected, caught.value.actual) == ("0" * 32, resource.md5)
    assert listing(dest) == []


def test_cancel_mid_stream(server, dest, no_writer_threads_left):
    server.add("/f.bin", size=8 * MIB)
    stop = threading.Event()
    seen = []

    def on_progress(done, total):
        seen.append(done)
        if done >= MIB:
            stop.set()

    with pytest.raises(Cancelled):
        fetch(
            server.url("/f.bin"), dest, on_progress=on_progress, should_stop=stop.is_set,
            chunk_size=64 << 10,
        )  # fmt: skip
    assert max(seen) < 8 * MIB
    assert listing(dest) == []


def test_cancel_before_start(server, dest):
    server.add("/f.bin", size=10)
    with pytest.raises(Cancelled):
        fetch(server.url("/f.bin"), dest, should_stop=lambda: True)
    assert server.count("/f.bin") == 0


def test_max_size_refuses_a_long_content_length(server, dest):
    server.add("/f.bin", size=2 * MIB)
    with pytest.raises(SizeLimitExceeded):
        fetch(server.url("/f.bin"), dest, max_size=MIB)
    assert server.count("/f.bin") == 1
    assert listing(dest) == []


def test_max_size_stops_a_chunked_stream(server, dest, no_writer_threads_left):
    server.add("/f.bin", size=2 * MIB, chunked=True)
    seen = Recorder()
    with pytest.raises(SizeLimitExceeded):
        fetch(server.url("/f.bin"), dest, max_size=MIB, on_progress=seen.on_progress)
    assert max(done for done, _ in seen.progress) <= MIB
    assert listing(dest) == []


def test_max_size_equal_to_the_size_is_fine(server, dest):
    server.add("/f.bin", size=MIB, chunked=True)
    assert fetch(server.url("/f.bin"), dest, max_size=MIB).size == MIB


def test_a_session_can_be_passed(server, dest):
    server.add("/f.bin", size=10)
    with default_session().__class__() as session:
        session.headers["User-Agent"] = "custom-agent"
        fetch(server.url("/f.bin"), dest, session=session)
    assert server.requests_for("/f.bin")[0].headers["user-agent"] == "custom-agent"


def test_default_session_is_shared():
    assert default_session() is default_session()
