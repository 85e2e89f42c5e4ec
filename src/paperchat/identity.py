"""One paper across formats: arXiv ids and DOIs resolve to the paper id first seen with them.

A paper's id is the hash of its normalised title (`corpus.paper_id_for`), so listings, which
carry no identifiers, keep their ids. A record that names an arXiv id or DOI takes the id of
the paper that named it first; otherwise its title's id, and its identifiers then point there.
So a `.bib` entry whose title differs from the arXiv snapshot's (a published title, a typo)
is still the same paper, as long as they share an arXiv id or DOI.

The table is a small SQLite file beside the index (or a dict for in-memory loads): lookups by
key, bounded memory at any corpus size, and it survives an interrupted ingest.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

from paperchat.records import Paper, PaperMeta


def identity_keys(meta: PaperMeta) -> list[str]:
    """The identifiers a record names, strongest first."""
    keys = [f"arxiv:{meta.arxiv_id.casefold()}"] if meta.arxiv_id else []
    return keys + ([f"doi:{meta.doi}"] if meta.doi else [])


class Identities:
    """arXiv id / DOI -> paper id; in memory, or in a SQLite file when given a path."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._memory: dict[str, str] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Ingest runs in a worker thread of the server; the lock serialises access.
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            # One commit per record: without an fsync each (WAL, synchronous=NORMAL) a VM disk
            # allows thousands a second instead of about sixty. A power loss can only drop
            # the last aliases, which the resumed ingest writes again.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS alias (key TEXT PRIMARY KEY, paper_id TEXT NOT NULL)"
            )

    def _get(self, key: str) -> str | None:
        if self._db is None:
            return self._memory.get(key)
        row = self._db.execute("SELECT paper_id FROM alias WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _put(self, key: str, paper_id: str) -> None:
        if self._db is None:
            self._memory.setdefault(key, paper_id)
        else:
            self._db.execute("INSERT OR IGNORE INTO alias VALUES (?, ?)", (key, paper_id))

    def resolve(self, paper: Paper) -> Paper:
        """The paper under the id its identifiers already have, remembering new ones."""
        with self._lock:
            return self._resolve(paper)

    def resolve_all(self, papers: list[Paper]) -> list[Paper]:
        """`resolve` for a batch, remembered in one transaction (not one commit a record)."""
        with self._lock:
            if self._db is None:
                return [self._resolve(p) for p in papers]
            self._db.execute("BEGIN")
            try:
                return [self._resolve(p) for p in papers]
            finally:
                self._db.execute("COMMIT")

    def _resolve(self, paper: Paper) -> Paper:
        keys = identity_keys(paper.meta)
        if not keys:
            return paper
        known = next((pid for pid in map(self._get, keys) if pid), None)
        paper_id = known or paper.paper_id
        for key in keys:
            self._put(key, paper_id)
        return paper if paper_id == paper.paper_id else replace(paper, paper_id=paper_id)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
