"""The test server itself: deterministic content, ranges, statuses, recording."""

import requests

from .helpers import MIB
from .httpserver import BLOCK_SIZE, FileServer, md5_hex, pattern_bytes, pattern_md5, pattern_slices


def test_pattern_is_deterministic_and_seeded():
    assert pattern_bytes(1000, seed=1) == pattern_bytes(1000, seed=1)
    assert pattern_bytes(1000, seed=1) != pattern_bytes(1000, seed=2)
    assert len(pattern_bytes(3 * MIB + 1)) == 3 * MIB + 1


def test_pattern_blocks_differ():
    data = pattern_bytes(2 * BLOCK_SIZE)
    assert data[:BLOCK_SIZE] != data[BLOCK_SIZE:]


def test_pattern_slices_and_md5_agree_with_bytes():
    data = pattern_bytes(2 * MIB + 5, seed=4)
    middle = b"".join(pattern_slices(2 * MIB + 5, 4, start=MIB - 3, end=2 * MIB + 1))
    assert middle == data[MIB - 3 : 2 * MIB + 1]
    assert pattern_md5(2 * MIB + 5, 4) == md5_hex(data)


def test_serves_ranges_and_records_requests():
    with FileServer() as srv:
        resource = srv.add("/f.bin", size=1000, seed=3)
        whole = requests.get(srv.url("/f.bin"), timeout=5)
        part = requests.get(srv.url("/f.bin"), headers={"Range": "bytes=990-"}, timeout=5)
        beyond = requests.get(srv.url("/f.bin"), headers={"Range": "bytes=1000-"}, timeout=5)
        missing = requests.get(srv.url("/nope"), timeout=5)
    assert whole.content == resource.data and whole.headers["ETag"] == resource.etag
    assert part.status_code == 206 and part.content == resource.data[990:]
    assert part.headers["Content-Range"] == "bytes 990-999/1000"
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == "bytes */1000"
    assert missing.status_code == 404
    assert [r.headers.get("range") for r in srv.requests_for("/f.bin")] == [
        None, "bytes=990-", "bytes=1000-",
    ]  # fmt: skip


def test_status_sequence_repeats_its_last_entry():
    with FileServer() as srv:
        srv.add("/f", content=b"ok", statuses=[503, 200], status_headers={"Retry-After": "1"})
        codes = [requests.get(srv.url("/f"), timeout=5) for _ in range(3)]
    assert [r.status_code for r in codes] == [503, 200, 200]
    assert codes[0].headers["Retry-After"] == "1"


def test_throttle_and_basic_auth():
    with FileServer() as srv:
        srv.add("/slow", size=2000, throttle=100_000, auth=("u", "p"))
        denied = requests.get(srv.url("/slow"), timeout=5)
        allowed = requests.get(srv.url("/slow"), auth=("u", "p"), timeout=5)
    assert denied.status_code == 401
    assert allowed.content == pattern_bytes(2000)


def test_open_connections_counts_responses_in_flight():
    with FileServer() as srv:
        resource = srv.add("/stall", size=1000, stall_after=10)
        with requests.get(srv.url("/stall"), stream=True, timeout=5) as response:
            assert response.raw.read(10) == resource.data[:10]
            assert srv.open_connections("/stall") == 1
            resource.release.set()
            assert response.raw.read() == resource.data[10:]
        assert srv.count("/stall") == 1
