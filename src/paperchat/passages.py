"""A paper's passage: the chunks retrieval kept of it, merged into one text to quote from.

Consecutive token windows of an abstract overlap; the model (and the extractive answer) is
shown each sentence once.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_OVERLAP_CHARS = 20  # consecutive chunks share a window overlap at least this long


def merge_chunks(chunks: Sequence[str]) -> str:
    """One passage from a paper's best chunks: overlapping windows joined without repeats.

    Consecutive token windows share their overlap; pasting them side by side would show the
    model (and the extractive answer) the same sentences twice. Unrelated windows are joined
    with an ellipsis so no sentence runs into another.
    """
    pieces = list(dict.fromkeys(c.strip() for c in chunks if c.strip()))
    merged = True
    while merged and len(pieces) > 1:
        merged = False
        for i, a in enumerate(pieces):
            for j, b in enumerate(pieces):
                joined = _join_overlapping(a, b) if i != j else None
                if joined is not None:
                    pieces = [p for k, p in enumerate(pieces) if k not in (i, j)]
                    pieces.insert(min(i, j), joined)
                    merged = True
                    break
            if merged:
                break
    return " ... ".join(pieces)


def _join_overlapping(first: str, second: str) -> str | None:
    """first + second without their shared part when second starts with first's tail."""
    if second in first:
        return first
    if first in second:
        return second
    for size in range(min(len(first), len(second)), MIN_OVERLAP_CHARS - 1, -1):
        if first.endswith(second[:size]):
            return first + second[size:]
    return None
