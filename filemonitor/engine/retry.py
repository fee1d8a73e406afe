"""How many download attempts to make, and how long to wait between them."""

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["SLEEP_SLICE", "RetryPolicy", "parse_retry_after"]

# A backoff wait is cut into slices this long (seconds) so should_stop() can end it early.
SLEEP_SLICE = 0.1


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts, backoff and redirects for one fetch().

    Attempt n (1-based) that fails with a retryable error is followed, while
    ``n < max_attempts``, by a wait of ``delay(n, retry_after)`` seconds spent
    in ``sleep`` (injectable, so tests need not wait).
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    jitter: bool = True
    max_redirects: int = 10
    sleep: Callable[[float], object] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("backoff times must not be negative")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")

    def delay(self, attempt, retry_after=None):
        """Seconds to wait after failed attempt ``attempt``.

        A server's Retry-After (seconds or HTTP-date, as sent) is honoured
        as is, without jitter; otherwise exponential backoff from
        ``backoff_base``, with "equal jitter" (a random point in the upper half)
        so that many clients failing together do not retry together. Never
        more than ``backoff_max``.
        """
        asked = parse_retry_after(retry_after)
        if asked is not None:
            return min(asked, self.backoff_max)
        delay = min(self.backoff_base * 2 ** min(attempt - 1, 64), self.backoff_max)
        if self.jitter:
            delay = random.uniform(delay / 2, delay)
        return delay

    def wait(self, seconds, should_stop=None):
        """Sleep ``seconds``; False (early) if ``should_stop()`` turns true, else True.

        Without ``should_stop`` this is a single ``sleep(seconds)`` call;
        with it, equal slices of at most SLEEP_SLICE seconds.
        """
        if should_stop is None:
            if seconds > 0:
                self.sleep(seconds)
            return True
        slices = math.ceil(seconds / SLEEP_SLICE) if seconds > 0 else 0
        for _ in range(slices):
            if should_stop():
                return False
            self.sleep(seconds / slices)
        return not should_stop()


def parse_retry_after(value, now=None):
    """Seconds asked for by a Retry-After value (delta-seconds, HTTP-date or a number), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(float(value), 0.0) if math.isfinite(value) else None
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)
