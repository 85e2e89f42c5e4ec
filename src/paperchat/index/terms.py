"""Document frequencies of the BM25 terms, kept current at every write.

Abstention weighs the question's terms by IDF, so it needs, for a handful of term ids per
query, how many chunks hold each. Counting them from the stored sparse vectors means reading
every point (minutes at 100k papers), so each engine keeps the counts as it writes: the
embedded engine in a SQLite file beside its shard, the server engine in a small side
collection. Each store also remembers the chunk total it has counted; when that differs from
the collection's (a process killed between the two writes), the engine recounts once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from paperchat.index.schema import SparseVec

TOTAL = -1  # row of the chunk total among the term rows (term ids are non-negative)


def term_delta(added: Iterable[SparseVec], removed: Iterable[SparseVec]) -> Counter[int]:
    """Per term id: chunks that gain it minus chunks that lose it (zeros left out)."""
    delta: Counter[int] = Counter()
    chunks = 0
    for indices, _ in added:
        delta.update(indices)
        chunks += 1
    for indices, _ in removed:
        delta.subtract(indices)
        chunks -= 1
    delta[TOTAL] = chunks
    return Counter({t: n for t, n in delta.items() if n})


class SqliteTermCounts:
    """Term id -> chunks, in one SQLite table; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS df (term INTEGER PRIMARY KEY, n INTEGER)")

    def apply(self, delta: Mapping[int, int]) -> None:
        if not delta:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO df VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET n = n + excluded.n",
                list(delta.items()),
            )
            # Only a term that lost chunks can reach zero: no scan of the table per write.
            if emptied := [t for t, n in delta.items() if n < 0 and t != TOTAL]:
                self._db.executemany(
                    "DELETE FROM df WHERE term = ? AND n <= 0", [(t,) for t in emptied]
                )
            self._db.execute("COMMIT")

    def replace(self, counts: Mapping[int, int]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM df")
            self._db.executemany("INSERT INTO df VALUES (?, ?)", list(counts.items()))
            self._db.execute("COMMIT")

    def get(self, term_ids: Collection[int]) -> tuple[int, dict[int, int]]:
        """(chunks counted, term id -> chunks) for these terms."""
        wanted = [*term_ids, TOTAL]
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._db.execute(f"SELECT term, n FROM df WHERE term IN ({marks})", wanted)
            found = dict(rows.fetchall())
        return found.pop(TOTAL, 0), found

    def close(self) -> None:
        with self._lock:
            self._db.close()
