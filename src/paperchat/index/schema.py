"""What every engine stores and how it is asked: vector names, payload keys and their indexes.

Both engines (Qdrant Edge embedded, Qdrant server) build their collections from this module,
so a collection pushed from one to the other holds the same schema. Adding a filter field is
one line in `PAYLOAD_INDEXES` (and a condition in `Filters.matches`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import numpy as np

from paperchat.errors import ConfigError
from paperchat.names import paper_names
from paperchat.records import NO_META, Chunk, Hit, PaperMeta
from paperchat.settings import RetrievalMode

DENSE = "dense"  # cosine, one per chunk
SPARSE = "bm25"  # BM25 term weights; the engine multiplies in the IDF
SparseVec = tuple[list[int], list[float]]
Mode = RetrievalMode
FieldKind = Literal["keyword", "integer", "float", "bool", "datetime"]

# Every payload field a filter or lookup uses, with the kind of index both engines keep on it.
PAYLOAD_INDEXES: dict[str, FieldKind] = {
    "paper_id": "keyword",
    "content_hash": "keyword",
    "sources": "keyword",
    "names": "keyword",  # the paper's normalised short names (paperchat.names)
    "date": "datetime",
    "position": "integer",
    "year": "integer",
    "categories": "keyword",  # arXiv categories, BibTeX keywords
    "author_keys": "keyword",  # full and last names, case-folded (see `author_keys`)
}
# The paper-level fields every chunk carries; a later source can fill them in (update_paper).
META_FIELDS = ["authors", "year", "venue", "doi", "arxiv_id", "categories", "record_url"]
# Payload fields every chunk carries: what filters and `delete_stale` match on. A paper's other
# fields (title, names, links, authors, ...) live on its head (first chunk) only, and a hit
# whose best chunk is another reads them from there (`PaperIndex.query`): Qdrant Edge's
# binding spends about 10 µs converting each payload value, so repeating a paper's fields on
# each of its chunks was the largest cost of writing. Indexes of an earlier layout, with every
# field on every chunk, read the same.
CHUNK_FIELDS = ("paper_id", "content_hash", "sources", "date", "year", "categories", "author_keys")
# Payload fields a search returns of each chunk.
HIT_FIELDS = ["paper_id", "title", "text", "sources", "date", "urls", "names", *META_FIELDS]
# Payload fields `stored` reads from a paper's head chunk.
HEAD_FIELDS = ["paper_id", "content_hash", "sources", "n_chunks", "date", "names", *META_FIELDS]


@dataclass(frozen=True, slots=True)
class StoredPaper:
    """What the index already holds of a paper: enough to skip, repair or extend it."""

    content_hash: str
    sources: tuple[str, ...]
    chunks_present: int
    chunks_expected: int
    meta: PaperMeta = NO_META
    date: str | None = None
    names: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.chunks_present == self.chunks_expected


@dataclass(frozen=True, slots=True)
class Filters:
    """Optional restrictions on what retrieval may return; each engine translates them."""

    sources: tuple[str, ...] = ()
    date_from: str | None = None  # ISO date, inclusive
    date_to: str | None = None
    paper_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # any of them (arXiv categories, BibTeX keywords)
    authors: tuple[str, ...] = ()  # any of them: a full name or a last name, any case

    @classmethod
    def of(
        cls,
        *,
        since: str | None = None,
        until: str | None = None,
        categories: Sequence[str] = (),
        authors: Sequence[str] = (),
        sources: Sequence[str] = (),
    ) -> Filters:
        """Filters from user input: `since`/`until` as YYYY, YYYY-MM or YYYY-MM-DD."""
        return cls(
            sources=_clean(sources),
            date_from=_day(since, "since", first=True),
            date_to=_day(until, "until", first=False),
            categories=_clean(categories),
            authors=_clean(authors),
        )

    def matches(self) -> dict[str, list[str]]:
        """Keyword fields and the values one of which each must hold."""
        found = {
            "sources": list(self.sources),
            "paper_id": list(self.paper_ids),
            "categories": list(self.categories),
            "author_keys": list(dict.fromkeys(author_key(a) for a in self.authors)),
        }
        return {key: values for key, values in found.items() if values}

    def date_range(self) -> tuple[str | None, str | None] | None:
        """The `date` range; a paper without a date matches by its year (`year_range`)."""
        return (self.date_from, self.date_to) if self.date_from or self.date_to else None

    def year_range(self) -> tuple[int | None, int | None]:
        """The years of the date range, for papers known only by a year."""
        return (
            int(self.date_from[:4]) if self.date_from else None,
            int(self.date_to[:4]) if self.date_to else None,
        )


def _clean(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _day(value: str | None, name: str, *, first: bool) -> str | None:
    """A year or month widened to its first or last day; a full date checked."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}", text):
            return f"{text}-01-01" if first else f"{text}-12-31"
        if re.fullmatch(r"\d{4}-\d{2}", text):
            start = date.fromisoformat(f"{text}-01")
            end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            return (start if first else end).isoformat()
        return date.fromisoformat(text).isoformat()
    except ValueError as e:
        raise ConfigError(
            f"{name}={value!r} is not a date; give YYYY, YYYY-MM or YYYY-MM-DD."
        ) from e


def author_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def author_keys(names: Sequence[str]) -> list[str]:
    """What an author filter matches: each full name and each last name, case-folded."""
    keys = [author_key(n) for n in names] + [author_key(n).rsplit(" ", 1)[-1] for n in names]
    return list(dict.fromkeys(k for k in keys if k))


@dataclass(slots=True)
class QueryVectors:
    dense: np.ndarray | None = None
    sparse: SparseVec | None = None
    weights: tuple[float, float] = (1.0, 1.0)  # dense, sparse (weighted RRF)
    prefetch: int = 40
    rrf_k: int = 15
    fusion: str = "rrf"  # "rrf" (ranks) or "dbsf" (normalised scores)


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """One point as an engine holds it: what `index push` and format upgrades copy."""

    id: str
    dense: list[float]
    sparse: SparseVec
    payload: dict[str, Any]


def paper_payload(chunk: Chunk, n_chunks: int) -> dict[str, object]:
    """A paper's fields, on its head chunk (besides `text` and `position`); the other chunks
    carry the `CHUNK_FIELDS` among them."""
    return {
        "paper_id": chunk.paper_id,
        "title": chunk.title,
        "n_chunks": n_chunks,
        "content_hash": chunk.content_hash,
        "sources": list(chunk.sources),
        "names": stored_names(chunk.names, chunk.title),
        "date": chunk.date,
        "urls": list(chunk.urls),
        **meta_payload(chunk.meta, chunk.date),
    }


def stored_names(names: Sequence[str], title: str) -> list[str]:
    """The `names` field of a paper: its `indexed_names`, else its title's."""
    return list(names) or paper_names(title)


def meta_payload(meta: PaperMeta, day: str | None) -> dict[str, object]:
    """A paper's metadata as payload fields (lists for the keyword-indexed ones); `year` is
    also set from the date, so papers count per year whatever their source gives."""
    return {
        "authors": list(meta.authors),
        "author_keys": author_keys(meta.authors),
        "year": meta.year or (int(day[:4]) if day else None),
        "venue": meta.venue,
        "doi": meta.doi,
        "arxiv_id": meta.arxiv_id,
        "categories": list(meta.categories),
        "record_url": meta.url,
    }


def payload_meta(payload: Mapping[str, Any]) -> PaperMeta:
    return PaperMeta(
        authors=tuple(payload.get("authors") or ()),
        year=payload.get("year"),
        venue=payload.get("venue"),
        doi=payload.get("doi"),
        arxiv_id=payload.get("arxiv_id"),
        categories=tuple(payload.get("categories") or ()),
        url=payload.get("record_url"),
    )


def stored_points(
    chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVec]
) -> list[StoredPoint]:
    counts = Counter(c.paper_id for c in chunks)
    # Per paper, built once: the head's fields and the other chunks' share of them.
    shared: dict[str, tuple[dict[str, object], dict[str, object]]] = {}
    points = []
    for c, vec, sv in zip(chunks, dense.tolist(), sparse, strict=True):
        if (fields := shared.get(c.paper_id)) is None:
            head = paper_payload(c, counts[c.paper_id])
            fields = shared[c.paper_id] = (head, {k: head[k] for k in CHUNK_FIELDS})
        own = {"text": c.text, "position": c.position}
        points.append(StoredPoint(c.chunk_id, vec, sv, {**fields[bool(c.position)], **own}))
    return points


Scored = tuple[float, Mapping[str, Any]]


def group_chunks(scored: Iterable[Scored], k: int, group_size: int) -> dict[str, list[Scored]]:
    """Scored chunks -> the top k papers, each with its best `group_size` chunks.

    Ordered here by score, then paper id and text: equal scores are common in a rank fusion
    (3rd in one list alone scores as 3rd in the other alone), and an engine returns them in
    no fixed order (Qdrant Edge's differs from one process to the next), so the same
    question always gets the same papers.
    """
    groups: dict[str, list[Scored]] = {}
    ordered = sorted(scored, key=lambda s: (-s[0], str(s[1].get("paper_id")), s[1].get("text", "")))
    for score, point in ordered:
        members = groups.setdefault(str(point.get("paper_id")), [])
        if len(members) < group_size:
            members.append((score, point))
    return dict(list(groups.items())[:k])


def lacks_paper_fields(members: Sequence[Scored]) -> bool:
    """True when a group's best chunk is not its paper's head (see `CHUNK_FIELDS`)."""
    return "title" not in members[0][1]


def make_hit(
    paper_id: str, members: Sequence[Scored], head: Mapping[str, Any] | None = None
) -> Hit:
    """A paper's hit; `head` gives the paper fields its best chunk does not carry."""
    score, best = members[0]
    if head:
        best = {**head, **best}
    return Hit(
        paper_id=paper_id,
        title=best.get("title", ""),
        score=float(score),
        text=best.get("text", ""),
        chunks=tuple(p.get("text", "") for _, p in members),
        sources=tuple(best.get("sources") or ()),
        date=best.get("date"),
        urls=tuple(best.get("urls") or ()),
        meta=payload_meta(best),
        names=tuple(best.get("names") or ()),
    )


def dimension_mismatch(collection: str, stored: int | None, dim: int) -> str:
    return (
        f"Collection {collection!r} holds {stored}-dimensional vectors but the embedder makes "
        f"{dim}. It was built with another embedder: set PAPERCHAT_EMBEDDING_MODEL back, or "
        "PAPERCHAT_QDRANT_COLLECTION to a new name and ingest again."
    )
