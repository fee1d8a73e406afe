"""fetch() resuming: after drops within one call, and from a .part left by a killed process."""

import json

import pytest

from filemonitor.engine import HashMismatch, fetch

from .helpers import MIB, Recorder, listing

SIZE = 8 * MIB
CUT = 300_000


def _ranges(server, path):
    return [r.headers.get("range") for r in server.requests_for(path)]


def test_drop_mid_body_resumes_with_range(server, dest, fast_policy):
    resource = server.add("/f.bin", size=SIZE, seed=5, drop_after=CUT)
    seen = Recorder()
    result = fetch(
        server.url("/f.bin"), dest, policy=fast_policy, chunk_size=64 << 10,
        on_start=seen.on_start, on_progress=seen.on_progress,
    )  # fmt: skip
    assert (result.size, result.md5) == (SIZE, resource.md5)
    requests = server.requests_for("/f.bin")
    assert _ranges(server, "/f.bin") == [None, f"bytes={CUT}-"]
    assert requests[1].headers["if-range"] == resource.etag
    assert seen.starts == [("f.bin", SIZE), ("f.bin", SIZE)]
    assert (CUT, SIZE) in seen.progress  # the resumed attempt starts where the first stopped
    assert seen.progress[-1] == (SIZE, SIZE)
    assert listing(dest) == ["f.bin"]


def test_reset_mid_body_resumes(server, dest, fast_policy):
    resource = server.add("/f.bin", size=SIZE, drop_after=CUT, drop_reset=True)
    assert fetch(server.url("/f.bin"), dest, policy=fast_policy).md5 == resource.md5
    assert server.count("/f.bin") == 2


def test_several_drops_in_a_row(server, dest, fast_policy):
    resource = server.add("/f.bin", size=SIZE, drop_after=MIB, drop_times=2)
    assert fetch(server.url("/f.bin"), dest, policy=fast_policy).md5 == resource.md5
    assert _ranges(server, "/f.bin") == [None, f"bytes={MIB}-", f"bytes={2 * MIB}-"]


def test_chunked_drop_resumes(server, dest, fast_policy):
    resource = server.add("/f.bin", size=2 * MIB + 3, chunked=True, drop_after=CUT)
    result = fetch(server.url("/f.bin"), dest, policy=fast_policy, chunk_size=64 << 10)
    assert result.md5 == resource.md5
    # http.client discards the partial chunk of a read that hits the drop.
    resumed_at = int(_ranges(server, "/f.bin")[1][6:-1])
    assert 0 < resumed_at <= CUT


def test_server_ignoring_range_restarts_cleanly(server, dest, fast_policy):
    resource = server.add("/f.bin", size=SIZE, support_range=False, drop_after=CUT)
    seen = Recorder()
    result = fetch(
        server.url("/f.bin"), dest, policy=fast_policy, chunk_size=64 << 10,
        on_progress=seen.on_progress,
    )  # fmt: skip
    assert result.md5 == resource.md5
    assert _ranges(server, "/f.bin") == [None, f"bytes={CUT}-"]
    restart = seen.progress.index((0, SIZE), 1)  # progress starts again from zero
    assert seen.progress[restart - 1][0] == CUT


def test_changed_file_restarts_via_if_range(server, dest, fast_policy):
    resource = server.add("/f.bin", size=SIZE, seed=1, drop_after=CUT)

    def change_the_file(name, total):
        resource.etag, resource.seed = '"v2"', 2

    result = fetch(
        server.url("/f.bin"), dest, policy=fast_policy, chunk_size=64 << 10,
        on_start=change_the_file,
    )  # fmt: skip
    assert result.md5 == resource.md5  # all of version 2, none of version 1
    assert server.requests_for("/f.bin")[1].headers["if-range"] != '"v2"'


@pytest.mark.parametrize("etag", [None, 'W/"weak"'])
def test_no_strong_validator_means_restart_from_zero(server, dest, fast_policy, etag):
    resource = server.add("/f.bin", size=2 * MIB, etag=etag, drop_after=CUT)
    assert fetch(server.url("/f.bin"), dest, policy=fast_policy).md5 == resource.md5
    assert _ranges(server, "/f.bin") == [None, None]


def test_last_modified_is_a_validator(server, dest, fast_policy):
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    resource = server.add("/f.bin", size=2 * MIB, etag=None, last_modified=stamp, drop_after=CUT)
    assert fetch(server.url("/f.bin"), dest, policy=fast_policy).md5 == resource.md5
    request = server.requests_for("/f.bin")[1]
    assert (request.headers["range"], request.headers["if-range"]) == (f"bytes={CUT}-", stamp)


# A process killed mid-download leaves <name>.part (and normally its sidecar).


def test_resume_a_part_without_sidecar(server, dest):
    resource = server.add("/f.bin", size=SIZE, seed=7)
    (dest / "f.bin.part").write_bytes(resource.data[:CUT])
    seen = Recorder()
    result = fetch(server.url("/f.bin"), dest, name="f.bin", on_progress=seen.on_progress)
    assert (result.size, result.md5) == (SIZE, resource.md5)
    request = server.requests_for("/f.bin")[0]
    assert request.headers["range"] == f"bytes={CUT}-"
    assert "if-range" not in request.headers
    assert seen.progress[0] == (CUT, SIZE)
    assert listing(dest) == ["f.bin"]


def test_resume_a_part_with_sidecar_uses_if_range(server, dest):
    resource = server.add("/f.bin", size=SIZE, seed=7)
    (dest / "f.bin.part").write_bytes(resource.data[:CUT])
    meta = {"etag": resource.etag, "last_modified": None, "total": SIZE}
    (dest / "f.bin.part.meta").write_text(json.dumps(meta))
    assert fetch(server.url("/f.bin"), dest, name="f.bin").md5 == resource.md5
    assert server.requests_for("/f.bin")[0].headers["if-range"] == resource.etag
    assert listing(dest) == ["f.bin"]


def test_stale_sidecar_validator_gets_the_whole_new_file(server, dest):
    resource = server.add("/f.bin", size=SIZE, seed=8)
    (dest / "f.bin.part").write_bytes(b"x" * CUT)
    (dest / "f.bin.part.meta").write_text(json.dumps({"etag": '"old"', "total": SIZE}))
    seen = Recorder()
    result = fetch(server.url("/f.bin"), dest, name="f.bin", on_progress=seen.on_progress)
    assert result.md5 == resource.md5
    assert seen.progress[0] == (0, SIZE)


def test_sidecar_without_validator_means_no_resume(server, dest):
    resource = server.add("/f.bin", size=MIB)
    (dest / "f.bin.part").write_bytes(b"x" * CUT)
    (dest / "f.bin.part.meta").write_text(json.dumps({"etag": None, "total": MIB}))
    assert fetch(server.url("/f.bin"), dest, name="f.bin").md5 == resource.md5
    assert _ranges(server, "/f.bin") == [None]


def test_unreadable_sidecar_means_no_resume(server, dest):
    resource = server.add("/f.bin", size=MIB)
    (dest / "f.bin.part").write_bytes(b"x" * CUT)
    (dest / "f.bin.part.meta").write_text("{not json")
    assert fetch(server.url("/f.bin"), dest, name="f.bin").md5 == resource.md5
    assert _ranges(server, "/f.bin") == [None]


def test_a_corrupt_prefix_is_caught_by_the_expected_md5(server, dest):
    resource = server.add("/f.bin", size=MIB)
    (dest / "f.bin.part").write_bytes(b"x" * CUT)  # no sidecar: resumed blindly
    with pytest.raises(HashMismatch):
        fetch(server.url("/f.bin"), dest, name="f.bin", expected_md5=resource.md5)
    assert listing(dest) == []


def test_a_complete_part_gets_416_and_is_published(server, dest):
    resource = server.add("/f.bin", size=MIB, seed=3)
    (dest / "f.bin.part").write_bytes(resource.data)
    seen = Recorder()
    result = fetch(
        server.url("/f.bin"), dest, name="f.bin", on_start=seen.on_start,
        on_progress=seen.on_progress,
    )  # fmt: skip
    assert (result.size, result.md5) == (MIB, resource.md5)
    assert server.count("/f.bin") == 1
    assert seen.starts == [("f.bin", MIB)] and seen.progress == [(MIB, MIB)]
    assert listing(dest) == ["f.bin"]


def test_an_oversized_part_gets_416_and_a_restart(server, dest):
    resource = server.add("/f.bin", size=MIB, seed=3)
    (dest / "f.bin.part").write_bytes(resource.data + b"junk")
    assert fetch(server.url("/f.bin"), dest, name="f.bin").md5 == resource.md5
    assert _ranges(server, "/f.bin") == [f"bytes={MIB + 4}-", None]


def test_a_part_longer_than_the_sidecar_total_is_dropped_at_once(server, dest):
    resource = server.add("/f.bin", size=MIB)
    (dest / "f.bin.part").write_bytes(b"x" * (MIB + 1))
    (dest / "f.bin.part.meta").write_text(json.dumps({"etag": resource.etag, "total": MIB}))
    assert fetch(server.url("/f.bin"), dest, name="f.bin").md5 == resource.md5
    assert _ranges(server, "/f.bin") == [None]


def test_an_empty_part_is_a_fresh_start(server, dest):
    resource = server.add("/f.bin", size=1000)
    (dest / "f.bin.part").write_bytes(b"")
    assert fetch(server.url("/f.bin"), dest, name="f.bin").md5 == resource.md5
    assert _ranges(server, "/f.bin") == [None]


def test_failure_after_a_leftover_part_removes_it(server, dest, fast_policy):
    server.add("/f.bin", size=MIB, statuses=[404])
    (dest / "f.bin.part").write_bytes(b"x" * CUT)
    with pytest.raises(Exception):  # noqa: B017 - any DownloadError; the point is the cleanup
        fetch(server.url("/f.bin"), dest, name="f.bin", policy=fast_policy)
    assert listing(dest) == []


def test_the_sidecar_is_written_while_downloading(server, dest):
    resource = server.add("/f.bin", size=2 * MIB)
    found = []

    def look(done, total):
        if not found and done:
            found.append(json.loads((dest / "f.bin.part.meta").read_text()))

    fetch(server.url("/f.bin"), dest, on_progress=look)
    assert found == [{"etag": resource.etag, "last_modified": None, "total": 2 * MIB}]
    assert listing(dest) == ["f.bin"]
