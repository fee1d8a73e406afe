"""Unit tests for engine.retry: backoff, Retry-After, interruptible waits."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from filemonitor.engine import RetryPolicy
from filemonitor.engine.retry import SLEEP_SLICE, parse_retry_after


def test_defaults():
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.backoff_base, policy.backoff_max) == (5, 0.5, 30.0)
    assert policy.jitter and policy.max_redirects == 10


def test_policy_is_frozen():
    with pytest.raises(AttributeError):
        RetryPolicy().max_attempts = 2


@pytest.mark.parametrize("bad", [{"max_attempts": 0}, {"backoff_base": -1}, {"max_redirects": -1}])
def test_invalid_policies(bad):
    with pytest.raises(ValueError):
        RetryPolicy(**bad)


def test_exponential_backoff_without_jitter():
    policy = RetryPolicy(backoff_base=0.5, backoff_max=3.0, jitter=False)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_stays_in_the_upper_half():
    policy = RetryPolicy(backoff_base=1.0, backoff_max=100.0)
    delays = [policy.delay(3) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 1


def test_huge_attempt_numbers_do_not_overflow():
    assert RetryPolicy(jitter=False).delay(10_000) == 30.0


def test_retry_after_seconds_is_honoured_and_capped():
    policy = RetryPolicy(backoff_max=10.0)
    assert policy.delay(1, "7") == 7.0
    assert policy.delay(1, 3) == 3.0
    assert policy.delay(1, "120") == 10.0


def test_retry_after_http_date():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(later, now=now) == 42.0
    earlier = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize("junk", [None, "", "soon", "-5", "1.5e3", "\u00b2", True, float("nan")])
def test_unusable_retry_after_falls_back_to_backoff(junk):
    assert parse_retry_after(junk) is None
    assert RetryPolicy(backoff_base=0.5, jitter=False).delay(1, junk) == 0.5


def test_wait_without_should_stop_is_one_sleep():
    slept = []
    assert RetryPolicy(sleep=slept.append).wait(2.0)
    assert slept == [2.0]


def test_wait_with_should_stop_sleeps_in_slices():
    slept = []
    assert RetryPolicy(sleep=slept.append).wait(1.0, should_stop=lambda: False)
    assert len(slept) == round(1.0 / SLEEP_SLICE)
    assert sum(slept) == pytest.approx(1.0)


def test_wait_is_interrupted_by_should_stop():
    slept = []
    stop = lambda: len(slept) >= 3  # noqa: E731
    assert not RetryPolicy(sleep=slept.append).wait(30.0, should_stop=stop)
    assert len(slept) == 3


def test_zero_wait_does_not_sleep():
    slept = []
    assert RetryPolicy(sleep=slept.append).wait(0, should_stop=lambda: False)
    assert slept == []
