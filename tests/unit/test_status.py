"""The one map from engine errors to Torrent Suite's status strings."""

import pytest

from filemonitor.engine import errors
from filemonitor.status import STATUS_MAX_LENGTH, can_requeue, is_failure, status_for_error

URL = "http://example.org/f"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.HTTPStatusError(URL, 404, "Not Found"), "HTTP Error: Not Found"),
        (errors.HTTPStatusError(URL, 503, ""), "HTTP Error: 503"),
        (errors.InvalidURL(URL, "no scheme"), "Invalid URL Error"),
        (errors.ConnectionFailed(URL, "refused"), "Connection Error"),
        (errors.ConnectionLost(URL, "dropped"), "Connection Lost"),
        (errors.HashMismatch(URL, "a" * 32, "b" * 32), "Error: identity hash mismatch"),
        (errors.TruncatedBody(URL, "short"), "Error: truncated body"),
        (errors.SizeLimitExceeded(URL, "big"), "Error: size limit exceeded"),
        (errors.DiskError(URL, "full"), "Error: disk write failed"),
        (errors.Cancelled(URL, "stop"), "Error: cancelled"),
    ],
)
def test_status_for_error(error, status):
    assert status_for_error(error) == status
    assert is_failure(status_for_error(error))


def test_long_http_reason_is_cut_to_the_column():
    status = status_for_error(errors.HTTPStatusError(URL, 500, "x" * 200))
    assert status.startswith("HTTP Error: ") and len(status) == STATUS_MAX_LENGTH


@pytest.mark.parametrize(
    ("status", "expected"),
    [("", True), ("Connection Error", True), ("Complete", False), ("Downloading", False)],
)
def test_can_requeue(status, expected):
    assert can_requeue(status) is expected
