"""Readers of an index at once, or its one writer alone: for an engine that must close and
open its files again while a server may be reading them (see `EdgeIndex._seal_when_due`)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

R = TypeVar("R")


class ReadGate:
    """Many readers at once, or one writer alone. A thread already reading may read again (a
    read that calls another) without waiting, so a writer waiting to go alone never blocks it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer_waits = False
        self._mine = threading.local()

    @contextmanager
    def reading(self) -> Iterator[None]:
        depth = getattr(self._mine, "depth", 0)
        if not depth:
            with self._cond:
                self._cond.wait_for(lambda: not self._writer_waits)
                self._readers += 1
        self._mine.depth = depth + 1
        try:
            yield
        finally:
            self._mine.depth = depth
            if not depth:
                with self._cond:
                    self._readers -= 1
                    self._cond.notify_all()

    @contextmanager
    def alone(self) -> Iterator[None]:
        """Waits for the readers to finish and holds new ones back until the block ends."""
        with self._cond:
            self._writer_waits = True
            self._cond.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._cond:
                self._writer_waits = False
                self._cond.notify_all()


def reads(method: Callable[..., R]) -> Callable[..., R]:
    """Marks a method that reads through `self.gate`."""

    @functools.wraps(method)
    def gated(self: Any, *args: Any, **kwargs: Any) -> R:
        with self.gate.reading():
            return method(self, *args, **kwargs)

    return gated
