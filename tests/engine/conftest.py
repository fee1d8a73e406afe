"""Fixtures for the download engine tests: a live file server, a target directory, fast retries."""

import threading

import pytest

from filemonitor.engine import RetryPolicy, appenders

from .httpserver import FileServer


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    # requests honours proxy variables; the test server is on 127.0.0.1.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(autouse=True, params=["buffered", "direct"])
def write_mode(request, monkeypatch):
    """Every engine test runs with both ways of writing a .part.

    "direct" takes O_DIRECT for any known size, through a small staging buffer, so
    that even small test files need several buffers, an unaligned tail and, on a
    resume, an unaligned lead.
    """
    if request.param == "direct":
        monkeypatch.setattr(appenders, "DIRECT_MIN_BYTES", 1)
        monkeypatch.setattr(appenders, "DIRECT_BUFFER_BYTES", 64 << 10)
    else:
        monkeypatch.setattr(appenders, "DIRECT_MIN_BYTES", 0)
    return request.param


@pytest.fixture
def server():
    """A FileServer on 127.0.0.1, closed (and its stalls released) after the test."""
    with FileServer() as srv:
        yield srv


@pytest.fixture
def dest(tmp_path):
    """An empty download directory, mode 0755, as the caller creates it."""
    path = tmp_path / "dest"
    path.mkdir(mode=0o755)
    return path


@pytest.fixture
def fast_policy():
    """Three attempts and near-zero backoff, so retry tests take no time."""
    return RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.01, jitter=False)


@pytest.fixture
def no_writer_threads_left():
    """Fail the test if a hashing or writing thread outlives it."""
    yield
    assert not [t for t in threading.enumerate() if t.name.startswith("part-")]
