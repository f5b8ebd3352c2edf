"""Per-credential token bucket, answered the way each cloud answers throttling."""


class RateLimiter:
    """qps = 0 switches the limit off. Not thread-safe: callers hold State.lock."""

    def __init__(self, qps=0.0, burst=0, retry_after=None):
        self.buckets = {}
        self.configure(qps, burst, retry_after)

    def configure(self, qps=0.0, burst=0, retry_after=None):
        qps = float(qps or 0)
        burst = int(burst or 0)
        if qps < 0 or burst < 0:
            raise ValueError("ratelimit: qps and burst must be >= 0 (0 switches the limit off)")
        if qps > 0 and burst < 1:
            burst = max(1, int(qps))
        self.qps, self.burst = qps, burst
        self.retry_after = None if retry_after is None else float(retry_after)
        self.buckets = {}

    def to_json(self):
        return {"qps": self.qps, "burst": self.burst, "retry_after": self.retry_after}

    def take(self, key, now):
        """True if a request by `key` at `now` is within the limit (and consumes a token)."""
        if self.qps <= 0:
            return True
        tokens, last = self.buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.qps)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            return True
        self.buckets[key] = (tokens, now)
        return False
