"""What the collection holds, paper by paper: browsing pages, counts per source and year, and
the phrases its titles use most.

Reads one payload per paper (its first chunk) from the index; nothing here writes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from paperchat.index import Filters, PaperIndex, payload_meta
from paperchat.records import PaperMeta

MAX_VALUES = 10_000  # distinct sources / years counted
TITLES_READ = 5_000  # titles read for their frequent phrases: the first ones, in index order
MIN_PHRASE_TITLES = 3  # a phrase fewer titles use says little about the collection
# A longer phrase stands for a shorter one inside it when it has this share of its titles:
# "large language models" for "large language", not for "language models", which many other
# titles use.
SUBSUMED_SHARE = 0.7
_TITLE_WORD = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# Words that join a title's phrases rather than name a topic.
_JOINING_WORDS = (
    "a an the of for with and or in on to via by from is are as at its into using towards "
    "toward through beyond what how when why do does can not more less than your you we our "
    "all is it this that be vs"
)
_JOINING = frozenset(_JOINING_WORDS.split())


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


def title_phrases(index: PaperIndex, most: int = 8) -> list[tuple[str, int]]:
    """The phrases of two or three words most titles use ("language models", "vision-language
    pre-training"), with how many titles use each; a two-word phrase that a longer one holds
    in most of its titles ("large language" in "large language models") gives way to it.
    "Language model" and "language models" count as one phrase, shown as titles most write it."""
    payloads, _ = index.heads(TITLES_READ)
    counts: Counter[str] = Counter()
    written: dict[str, Counter[str]] = {}
    for payload in payloads:
        found = _TITLE_WORD.findall(str(payload.get("title", "")).lower())
        phrases = {
            tuple(found[i : i + n])
            for n in (2, 3)
            for i in range(len(found) - n + 1)
            if not _JOINING.intersection(found[i : i + n])
        }
        for phrase in phrases:
            key = " ".join((*phrase[:-1], _singular(phrase[-1])))
            counts[key] += 1
            written.setdefault(key, Counter())[" ".join(phrase)] += 1
    frequent = {p: n for p, n in counts.items() if n >= MIN_PHRASE_TITLES}
    kept = [
        (written[phrase].most_common(1)[0][0], n)
        for phrase, n in frequent.items()
        if not any(
            longer != phrase and f" {phrase} " in f" {longer} " and m >= SUBSUMED_SHARE * n
            for longer, m in frequent.items()
        )
    ]
    return sorted(kept, key=lambda item: (-item[1], item[0]))[:most]


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
