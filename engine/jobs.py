"""At most N heavy jobs at once per server process, the others waiting their turn in order.

Style transfer, neuron indexing, training, bulk enrolment and embedding an uploaded pair set
each keep the processor busy for seconds to minutes. One Streamlit server runs every session's
script in its own thread of one process, so a process-wide limiter is a per-server limit:

    with job_slot("style transfer", on_wait=show_queue):
        stylize(...)

A job that finds every slot taken takes a ticket and waits; tickets are served first come,
first served (a fair queue, not whichever thread the OS wakes first). While it waits,
``on_wait(k_ahead)`` is called about every ``poll_s`` seconds with the number of jobs queued
in front of it (0: it is next, waiting for a running job to finish); returning True gives up
the place in the queue and raises ``JobCancelled``. Any exception raised by the callback (a
Streamlit rerun, Ctrl-C) also gives up the place. A thread that already holds a slot passes
straight into a nested one (a training run that embeds its photos is one job, and waiting on
itself would never end). N is ``Settings.max_jobs`` (``VISIONLAB_MAX_JOBS``, default 2).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from engine.errors import VisionLabError

WaitCallback = Callable[[int], "bool | None"]
"""``on_wait(k_ahead)``: return True to stop waiting (``JobCancelled``)."""


class JobCancelled(VisionLabError):
    """A job gave up its place in the queue before it started; nothing was run."""


@dataclass(frozen=True)
class _Ticket:
    name: str


class JobLimiter:
    """``slots`` jobs at once; the rest wait in a first-in, first-out queue. Thread-safe."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a job limiter needs at least one slot")
        self.slots = slots
        self._changed = threading.Condition()
        self._waiting: deque[_Ticket] = deque()
        self._running: list[str] = []
        self._holders: set[int] = set()
        """Threads holding a slot (``threading.get_ident``)."""

    @property
    def running(self) -> list[str]:
        """Names of the jobs holding a slot now."""
        with self._changed:
            return list(self._running)

    @property
    def waiting(self) -> list[str]:
        """Names of the queued jobs, first in line first."""
        with self._changed:
            return [t.name for t in self._waiting]

    @contextmanager
    def slot(
        self, name: str, on_wait: WaitCallback | None = None, poll_s: float = 0.5
    ) -> Iterator[None]:
        """Hold one slot for the ``with`` block, waiting in line for it when all are taken."""
        me = threading.get_ident()
        with self._changed:
            nested = me in self._holders
        if nested:
            yield
            return
        ticket = _Ticket(name)
        with self._changed:
            self._waiting.append(ticket)
            try:
                while True:
                    ahead = self._waiting.index(ticket)
                    if ahead == 0 and len(self._running) < self.slots:
                        break
                    if on_wait is not None:
                        self._changed.release()  # the callback may draw a page: not under lock
                        try:
                            stop = on_wait(ahead)
                        finally:
                            self._changed.acquire()
                        if stop:
                            raise JobCancelled(
                                f"The {name} was cancelled while it waited for its turn; "
                                "nothing was run."
                            )
                        if self._waiting.index(ticket) != 0 or len(self._running) >= self.slots:
                            self._changed.wait(poll_s)
                    else:
                        self._changed.wait(poll_s)
            finally:
                self._waiting.remove(ticket)
                self._changed.notify_all()  # the next in line may now be first
            self._running.append(name)
            self._holders.add(me)
        try:
            yield
        finally:
            with self._changed:
                self._running.remove(name)
                self._holders.discard(me)
                self._changed.notify_all()


_shared: JobLimiter | None = None
_shared_lock = threading.Lock()


def shared_limiter(slots: int) -> JobLimiter:
    """The process's limiter, made with ``slots`` (``Settings.max_jobs``) by the first caller;
    every later caller shares that one."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = JobLimiter(slots)
        return _shared


@contextmanager
def job_slot(
    name: str, slots: int, on_wait: WaitCallback | None = None, poll_s: float = 0.5
) -> Iterator[None]:
    """A slot of the process-wide limiter of ``slots`` (see the module docstring)."""
    with shared_limiter(slots).slot(name, on_wait, poll_s):
        yield
