"""Throttling wrong passwords: exponential delays per session and per client address."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class _Failures:
    count: int = 0
    next_allowed: float = 0.0
    last: float = 0.0


class LoginThrottle:
    """Exponential delays after wrong passwords, per key (a session, a client address).

    After the k-th failure in a row for a key, its next attempt waits ``base * 2**(k-1)``
    seconds, capped at ``cap``; a key quiet for ``forget_after`` seconds starts over. An attempt
    counts as a failure from the moment it begins (``begin``), so parallel attempts cannot slip
    through together; ``succeeded`` takes back that count. Thread-safe: one per process.
    """

    def __init__(
        self,
        *,
        base: float = 1.0,
        cap: float = 300.0,
        forget_after: float = 3600.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base, self.cap, self.forget_after, self.max_keys = base, cap, forget_after, max_keys
        self.clock = clock
        self._keys: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def delay(self, failures: int) -> float:
        return 0.0 if failures <= 0 else min(self.cap, self.base * 2 ** min(failures - 1, 60))

    def _get(self, key: str, now: float) -> _Failures:
        entry = self._keys.get(key)
        if entry is not None and now - entry.last > self.forget_after:
            entry = None
        if entry is None:
            if len(self._keys) >= self.max_keys:
                self._keys = {
                    k: v for k, v in self._keys.items() if now - v.last <= self.forget_after
                }
            entry = self._keys[key] = _Failures()
        return entry

    def wait(self, keys: Iterable[str]) -> float:
        """Seconds until any of ``keys`` may try again (0: now)."""
        with self._lock:
            now = self.clock()
            return max([0.0, *(self._get(k, now).next_allowed - now for k in keys)])

    def begin(self, keys: Iterable[str]) -> float:
        """Start an attempt: 0 when allowed (and counted as failed until ``succeeded``), else
        the seconds to wait (the attempt is not made, and not counted)."""
        keys = list(keys)
        with self._lock:
            now = self.clock()
            entries = [self._get(k, now) for k in keys]
            wait = max([0.0, *(e.next_allowed - now for e in entries)])
            if wait > 0:
                return wait
            for e in entries:
                e.count += 1
                e.last = now
                e.next_allowed = now + self.delay(e.count)
            return 0.0

    def succeeded(self, keys: Iterable[str]) -> None:
        """The attempt ``begin`` counted was right: take the count back, allow the next now."""
        with self._lock:
            now = self.clock()
            for k in keys:
                e = self._get(k, now)
                e.count = max(0, e.count - 1)
                e.next_allowed = now

    def failures(self, key: str) -> int:
        with self._lock:
            return self._get(key, self.clock()).count


THROTTLE = LoginThrottle()
"""The process-wide throttle every session of the app shares."""


def log_failed_login(address: str | None, throttle: LoginThrottle, keys: Iterable[str]) -> None:
    """One warning per wrong password: where from and how long the next wait is — never the
    password that was tried."""
    keys = list(keys)
    log.warning(
        "wrong password from %s (%d failure(s) in a row; next attempt in %.0f s)",
        address or "localhost",
        max(throttle.failures(k) for k in keys),
        throttle.wait(keys),
    )
