"""Token buckets: per connection for frames, per client address for invite redemption."""

from __future__ import annotations

import time

__all__ = ["KeyedLimiter", "TokenBucket"]


class TokenBucket:
    """Allows `burst` events at once and `rate` per second sustained."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def allow(self, cost: float = 1.0) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False


class KeyedLimiter:
    """One bucket per key (e.g. client address), forgetting idle keys."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, key: str) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()  # crude but bounded; a full table is itself abuse
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket.allow()
