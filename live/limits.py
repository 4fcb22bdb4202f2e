"""Token buckets: at most `capacity` in `seconds`, refilled continuously."""

import time


class Bucket:
    __slots__ = ("at", "capacity", "rate", "tokens")

    def __init__(self, capacity: float, seconds: float):
        self.capacity = max(1.0, float(capacity))
        self.rate = self.capacity / max(seconds, 0.001)
        self.tokens = self.capacity
        self.at = time.monotonic()

    def take(self) -> float | None:
        """Take one: None if allowed, else the seconds until one is there (rounded up to
        the tenth, so a client that waits exactly that long is let through)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return max(0.1, -(-(1 - self.tokens) / self.rate * 10 // 1) / 10)
