"""A function's results kept by argument, for the per-word work of ingest (token counts,
stems): a plain dict answers a known word faster than `functools.lru_cache`, which matters at
a hundred words a chunk; it is cleared when full instead of evicting one entry at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V], Generic[K, V]):
    """`memo[key]` is `compute(key)`, computed once while at most `limit` results are held."""

    def __init__(self, compute: Callable[[K], V], limit: int) -> None:
        super().__init__()
        self._compute = compute
        self._limit = limit

    def __missing__(self, key: K) -> V:
        if len(self) >= self._limit:
            self.clear()
        value = self[key] = self._compute(key)
        return value
