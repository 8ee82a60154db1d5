"""Token buckets: per connection for frames, and named buckets kept in this process's
memory (per client address for invite redemption and session creation) for the
in-memory bus; the Redis bus keeps the same buckets in Redis, shared by every process."""

from __future__ import annotations

import time

__all__ = ["Buckets", "TokenBucket"]


class TokenBucket:
    """Allows `burst` events at once and `rate` per second sustained."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def allow(self, cost: float = 1.0) -> bool:
        self._refill()
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def take(self, cost: float = 1.0) -> float:
        """If a whole token is there, spend `cost` (0 only looks) and return 0.0; else
        the seconds until one is. A negative cost gives tokens back (up to the burst)."""
        self._refill()
        if cost < 0:
            self._tokens = min(self.burst, self._tokens - cost)
            return 0.0
        if self._tokens >= 1.0:
            self._tokens = max(0.0, self._tokens - cost)
            return 0.0
        return (1.0 - self._tokens) / self.rate


class Buckets:
    """Token buckets by key (e.g. a limit and a client address), forgetting them all
    when there are too many: crude but bounded, and a full table is itself abuse."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, rate: float, burst: float, cost: float = 1.0) -> float:
        """`TokenBucket.take` on the bucket of `key` (full when first seen)."""
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate or bucket.burst != burst:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()
            bucket = self._buckets[key] = TokenBucket(rate, burst)
        return bucket.take(cost)
