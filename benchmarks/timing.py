"""Exclusive time per part of a coding run, for the benchmarks (bench_codec, profile_pframe).

Parts nest (a network inside an entropy-coding call, say); every interval of time goes to the
innermost active part, so the parts add up to the time measured.
"""
from __future__ import annotations

import functools
import time
from collections import defaultdict
from typing import Callable


class PartTimer:
    """Exclusive wall and thread-CPU seconds per part; ``sync`` runs before every reading (e.g.
    ``torch.cuda.synchronize``, so that queued GPU work is charged to the part that queued it)."""

    def __init__(self, sync: Callable[[], None] = lambda: None):
        self.sync = sync
        self.stack: list[str] = []
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.last = (time.perf_counter(), time.thread_time())

    def _charge(self) -> None:
        self.sync()
        now = (time.perf_counter(), time.thread_time())
        if self.stack:
            self.wall[self.stack[-1]] += now[0] - self.last[0]
            self.cpu[self.stack[-1]] += now[1] - self.last[1]
        self.last = now

    def enter(self, part: str) -> None:
        self._charge()
        self.stack.append(part)

    def leave(self) -> None:
        self._charge()
        self.stack.pop()

    def take(self) -> dict[str, dict[str, float]]:
        """{"wall": {part: s}, "cpu": {part: s}} since the last call, and start again."""
        out = {"wall": dict(self.wall), "cpu": dict(self.cpu)}
        self.wall, self.cpu = defaultdict(float), defaultdict(float)
        return out


def time_calls(owner: object, attr: str, timer: PartTimer, part: str) -> None:
    """Replace ``owner.attr`` (a function, or a method of a class or an object) by a version whose
    calls are charged to ``part``."""
    original = getattr(owner, attr)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        timer.enter(part)
        try:
            return original(*args, **kwargs)
        finally:
            timer.leave()

    setattr(owner, attr, timed)
