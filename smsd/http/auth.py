"""Who is calling: hashed tokens compared in constant time, and a rate limit per client."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

from smsd.config import Config, HttpClient


class RateLimiter:
    """A token bucket per client: `rate` messages (or requests) a minute, bursts up to the same number."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, name: str, rate: int, cost: int = 1) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(name, (float(rate), now))
            tokens = min(float(rate), tokens + (now - last) * rate / 60)
            if tokens < cost:
                self._buckets[name] = (tokens, now)
                return False
            self._buckets[name] = (tokens - cost, now)
            return True


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_client(cfg: Config, token: str | None, username: str | None = None) -> HttpClient | None:
    """The client whose token hash matches, compared in constant time against every client."""
    if not token:
        return None
    digest = token_hash(token)
    found = None
    for c in cfg.http_clients:
        if username is not None and username != (c.kannel_username or c.name):
            continue
        if hmac.compare_digest(digest, c.token_sha256):
            found = c
    return found
