"""What the collection holds, paper by paper: browsing pages and counts per source and year.

Reads one payload per paper (its first chunk) from the index; nothing here writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from paperchat.index import Filters, PaperIndex, payload_meta
from paperchat.records import PaperMeta

MAX_VALUES = 10_000  # distinct sources / years counted


@dataclass(frozen=True, slots=True)
class PaperInfo:
    """One indexed paper as the collection view and `paperchat stats` see it."""

    paper_id: str
    title: str
    sources: tuple[str, ...] = ()
    date: str | None = None
    urls: tuple[str, ...] = ()
    meta: PaperMeta = field(default_factory=PaperMeta)

    @property
    def year(self) -> int | None:
        return self.meta.year or (int(self.date[:4]) if self.date else None)

    @property
    def url(self) -> str | None:
        return self.meta.link(self.urls)

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> PaperInfo:
        return cls(
            paper_id=str(payload.get("paper_id", "")),
            title=str(payload.get("title", "")),
            sources=tuple(payload.get("sources") or ()),
            date=payload.get("date"),
            urls=tuple(payload.get("urls") or ()),
            meta=payload_meta(payload),
        )


def browse(index: PaperIndex, filters: Filters | None = None, limit: int = 50) -> list[PaperInfo]:
    """The first `limit` papers matching the filters, in index order."""
    payloads, _ = index.heads(limit, filters=filters)
    return [PaperInfo.of(p) for p in payloads]


@dataclass(slots=True)
class CollectionStats:
    papers: int = 0
    per_source: Counter[str] = field(default_factory=Counter)
    per_year: Counter[str] = field(default_factory=Counter)  # "unknown" when undated

    def to_dict(self) -> dict[str, object]:
        return {
            "papers": self.papers,
            "per_source": dict(sorted(self.per_source.items())),
            "per_year": dict(sorted(self.per_year.items())),
        }


def collection_stats(index: PaperIndex) -> CollectionStats:
    """Counted by the index (facets over first chunks), in one pass at any size."""
    papers = index.count_papers()
    per_year = Counter({str(year): n for year, n in index.facet("year", MAX_VALUES).items()})
    if undated := papers - sum(per_year.values()):
        per_year["unknown"] = undated
    return CollectionStats(papers, Counter(index.facet("sources", MAX_VALUES)), per_year)


def sources(index: PaperIndex) -> list[str]:
    """The file names papers were ingested from, for the UI's source filter."""
    return sorted(index.facet("sources", MAX_VALUES))
