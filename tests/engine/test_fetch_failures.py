"""fetch() failures: statuses, retries, broken connections, bad URLs, credentials, disk errors."""

import errno
import logging
import os
import socket

import pytest

from filemonitor.engine import HTTPStatusError, RetryPolicy, appenders, fetch
from filemonitor.engine.errors import (
    Cancelled,
    ConnectionFailed,
    ConnectionLost,
    DiskError,
    DownloadError,
    InvalidURL,
    ReadTimeout,
    TruncatedBody,
)

from .helpers import MIB, listing

PASSWORD = "s3cr3t-pw"


def test_404_fails_at_once(server, dest, fast_policy):
    with pytest.raises(HTTPStatusError) as caught:
        fetch(server.url("/missing"), dest, policy=fast_policy)
    error = caught.value
    assert (error.status_code, error.reason, error.retryable) == (404, "Not Found", False)
    assert server.count("/missing") == 1
    assert listing(dest) == []


def test_500_is_retried_then_raised(server, dest, fast_policy):
    server.add("/f.bin", size=10, statuses=[500])
    with pytest.raises(HTTPStatusError) as caught:
        fetch(server.url("/f.bin"), dest, policy=fast_policy)
    assert caught.value.status_code == 500 and caught.value.retryable
    assert server.count("/f.bin") == fast_policy.max_attempts
    assert listing(dest) == []


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
def test_passing_conditions_are_retried(server, dest, fast_policy, status):
    resource = server.add("/f.bin", size=1000, statuses=[status, 200])
    assert fetch(server.url("/f.bin"), dest, policy=fast_policy).md5 == resource.md5
    assert server.count("/f.bin") == 2


@pytest.mark.parametrize("status", [400, 403, 410, 451])
def test_other_client_errors_are_not_retried(server, dest, fast_policy, status):
    server.add("/f.bin", size=10, statuses=[status])
    with pytest.raises(HTTPStatusError):
        fetch(server.url("/f.bin"), dest, policy=fast_policy)
    assert server.count("/f.bin") == 1


def test_retry_after_is_what_the_policy_sleeps(server, dest):
    slept = []
    resource = server.add(
        "/f.bin", size=1000, statuses=[503, 200], status_headers={"Retry-After": "2"}
    )
    policy = RetryPolicy(max_attempts=3, backoff_max=5.0, sleep=slept.append)
    assert fetch(server.url("/f.bin"), dest, policy=policy).md5 == resource.md5
    assert slept == [2.0]


def test_retry_after_wait_is_sliced_when_cancellable(server, dest):
    slept = []
    server.add("/f.bin", size=10, statuses=[429, 200], status_headers={"Retry-After": "2"})
    policy = RetryPolicy(backoff_max=5.0, sleep=slept.append)
    fetch(server.url("/f.bin"), dest, policy=policy, should_stop=lambda: False)
    assert sum(slept) == pytest.approx(2.0) and len(slept) > 1


def test_cancel_during_backoff(server, dest):
    stopped = []
    server.add("/f.bin", size=10, statuses=[503, 200], status_headers={"Retry-After": "30"})
    policy = RetryPolicy(backoff_max=60.0, sleep=stopped.append)
    with pytest.raises(Cancelled):
        fetch(server.url("/f.bin"), dest, policy=policy, should_stop=lambda: bool(stopped))
    assert server.count("/f.bin") == 1 and len(stopped) == 1


def test_short_body_every_time(server, dest, fast_policy, no_writer_threads_left):
    server.add("/f.bin", size=MIB, lie_length=1000)
    with pytest.raises((TruncatedBody, ConnectionLost)):
        fetch(server.url("/f.bin"), dest, policy=fast_policy, chunk_size=64 << 10)
    requests = server.requests_for("/f.bin")
    assert len(requests) == fast_policy.max_attempts
    assert requests[1].headers["range"] == f"bytes={MIB}-"  # resumed, still short
    assert listing(dest) == []


def test_connection_reset_every_time(server, dest, fast_policy, no_writer_threads_left):
    server.add("/f.bin", size=2 * MIB, drop_after=100_000, drop_times=-1, drop_reset=True)
    with pytest.raises((ConnectionLost, TruncatedBody)) as caught:
        fetch(server.url("/f.bin"), dest, policy=fast_policy, chunk_size=16 << 10)
    assert caught.value.retryable
    assert server.count("/f.bin") == fast_policy.max_attempts
    assert listing(dest) == []


def test_stall_after_headers(server, dest, no_writer_threads_left):
    server.add("/f.bin", size=MIB, stall_after=0)
    policy = RetryPolicy(max_attempts=2, backoff_base=0.001, jitter=False)
    with pytest.raises(ReadTimeout):
        fetch(server.url("/f.bin"), dest, policy=policy, timeout=(1, 0.5))
    assert server.count("/f.bin") == 2
    assert listing(dest) == []


def test_stall_mid_body_then_resume(server, dest, fast_policy):
    resource = server.add("/f.bin", size=MIB, stall_after=300_000, stall_times=1)
    result = fetch(
        server.url("/f.bin"), dest, policy=fast_policy, timeout=(1, 0.5), chunk_size=64 << 10
    )
    assert result.md5 == resource.md5
    # A read that times out loses its partial chunk, so the resume starts at or before the stall.
    resumed_at = int(server.requests_for("/f.bin")[1].headers["range"][6:-1])
    assert 0 < resumed_at <= 300_000


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused(dest, fast_policy):
    with pytest.raises(ConnectionFailed) as caught:
        fetch(f"http://127.0.0.1:{_closed_port()}/f.bin", dest, policy=fast_policy)
    assert caught.value.retryable
    assert "refused" in caught.value.detail.lower()
    assert listing(dest) == []


def test_unknown_host(dest):
    with pytest.raises(ConnectionFailed):
        fetch("http://no-such-host.invalid/f.bin", dest, policy=RetryPolicy(max_attempts=1))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/f.bin",
        "file:///etc/passwd",
        "not a url",
        "http://",
        "http:///path",
        "http://127.0.0.1:99999/f",
        "http://[::1/f",
        "//127.0.0.1/f",
        None,
    ],
)
def test_invalid_url(dest, url):
    with pytest.raises(InvalidURL) as caught:
        fetch(url, dest)
    assert not caught.value.retryable


def test_redirect_to_another_scheme_is_invalid(server, dest, fast_policy):
    server.add_redirect("/f.bin", "ftp://127.0.0.1/f.bin")
    with pytest.raises(InvalidURL):
        fetch(server.url("/f.bin"), dest, policy=fast_policy)
    assert server.count("/f.bin") == 1


def test_credentials_in_the_url_are_used_as_basic_auth(server, dest):
    resource = server.add("/secret.bin", size=1000, auth=("user", PASSWORD))
    result = fetch(server.url("/secret.bin", userinfo=f"user:{PASSWORD}"), dest)
    assert result.md5 == resource.md5
    assert server.requests_for("/secret.bin")[0].headers["authorization"].startswith("Basic ")


def test_explicit_auth_wins_over_the_url(server, dest):
    server.add("/secret.bin", size=10, auth=("user", PASSWORD))
    fetch(server.url("/secret.bin", userinfo="user:wrong"), dest, auth=("user", PASSWORD))


def test_credentials_never_reach_errors_or_logs(server, dest, caplog):
    server.add("/secret.bin", size=10, auth=("user", "other"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(HTTPStatusError) as caught:
        fetch(server.url("/secret.bin?token=tok3n", userinfo=f"user:{PASSWORD}"), dest)
    error = caught.value
    assert error.status_code == 401
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("filemonitor"))
    for text in (str(error), repr(error), error.url, str(error.args), ours):
        assert PASSWORD not in text and "tok3n" not in text
    assert PASSWORD not in caplog.text  # nor in urllib3's logs: it never saw the userinfo
    assert error.url.startswith("http://127.0.0.1:")


def test_the_writer_thread_error_becomes_disk_error(
    server, dest, monkeypatch, no_writer_threads_left
):
    real_write = os.write

    def disk_full(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".part"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    # A real full disk is in tests/faults (tmpfs); here only the engine's handling is shown.
    monkeypatch.setattr(appenders.os, "write", disk_full)
    server.add("/f.bin", size=4 * MIB)
    with pytest.raises(DiskError) as caught:
        fetch(server.url("/f.bin"), dest, chunk_size=64 << 10)
    assert "No space left" in caught.value.detail
    assert server.count("/f.bin") == 1  # not retried
    assert listing(dest) == []


def test_missing_destination_directory(server, dest):
    server.add("/f.bin", size=10)
    with pytest.raises(DiskError):
        fetch(server.url("/f.bin"), dest / "nope")


def test_a_symlink_at_the_part_path_is_not_followed(server, dest, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (dest / "f.bin.part").symlink_to(victim)
    server.add("/f.bin", size=1000)
    with pytest.raises(DiskError):
        fetch(server.url("/f.bin"), dest)
    assert victim.read_bytes() == b"precious"
    assert listing(dest) == []


def test_a_symlink_left_at_an_explicit_part_path_is_not_followed(server, dest, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (dest / "mine.part").symlink_to(victim)
    server.add("/f.bin", size=1000)
    with pytest.raises(DiskError):
        fetch(server.url("/f.bin"), dest, name="mine")
    assert victim.read_bytes() == b"precious"
    assert server.count("/f.bin") == 0


def test_every_error_is_a_download_error(dest):
    with pytest.raises(DownloadError):
        fetch(f"http://127.0.0.1:{_closed_port()}/", dest, policy=RetryPolicy(max_attempts=1))
