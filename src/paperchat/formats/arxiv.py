"""arXiv metadata snapshot records -> Papers.

The snapshot (Kaggle's `arxiv-metadata-oai-snapshot.json`) is JSONL despite its suffix: one
object a line with `id`, `title`, `abstract`, `authors`, `authors_parsed`, `categories`, `doi`,
`journal-ref`, `update_date` and `versions` (the first version's date is the submission date).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime

from paperchat.corpus import make_paper
from paperchat.records import Paper, PaperMeta

# Keys only the snapshot has: a JSONL record with an id and one of these is an arXiv record.
ARXIV_KEYS = frozenset({"versions", "authors_parsed", "categories", "journal-ref", "update_date"})
_VERSION = re.compile(r"v\d+$")
_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", re.IGNORECASE)
_ARXIV_DOI = "10.48550/arxiv."
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/([\w.\-/]+?)(?:v\d+)?(?:\.pdf)?$", re.IGNORECASE)


def is_arxiv_record(record: dict) -> bool:
    return isinstance(record.get("id"), str) and not ARXIV_KEYS.isdisjoint(record)


def clean_arxiv_id(value: str) -> str | None:
    """`2003.10555v2`, `arXiv:2003.10555`, an arxiv.org link -> `2003.10555`."""
    value = value.strip()
    if m := _ARXIV_URL.search(value):
        value = m.group(1)
    value = re.sub(r"^arxiv:", "", value, flags=re.IGNORECASE)
    value = _VERSION.sub("", value)
    return value if re.fullmatch(r"[\w.\-]+(?:/\d+)?", value) else None


def clean_doi(value: str) -> str | None:
    """A DOI without resolver prefix, lower case (DOIs are case-insensitive)."""
    value = _DOI.sub("", value.strip().split()[0] if value.strip() else "").casefold()
    return value if value.startswith("10.") and "/" in value else None


def arxiv_id_of_doi(doi: str | None) -> str | None:
    """arXiv's own DOIs (10.48550/arXiv.<id>) name an arXiv id."""
    if doi and doi.startswith(_ARXIV_DOI):
        return clean_arxiv_id(doi[len(_ARXIV_DOI) :])
    return None


def _authors(record: dict) -> tuple[str, ...]:
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = []
        for parts in parsed:
            if isinstance(parts, list) and parts:
                last, first = str(parts[0]), str(parts[1]) if len(parts) > 1 else ""
                names.append(" ".join(f"{first} {last}".split()))
        return tuple(n for n in names if n)
    text = record.get("authors")
    if isinstance(text, str):
        return tuple(a.strip() for a in re.split(r",| and ", text) if a.strip())
    return ()


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# How the snapshot writes every version date; anything else goes through strptime.
_CREATED = re.compile(
    rf"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ({'|'.join(_MONTHS)}) (\d{{4}}) "
    r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d GMT"
)


def _created_day(created: str) -> str | None:
    """`created` ("Mon, 2 Apr 2007 19:18:42 GMT") as an ISO date; None when it is not one."""
    if m := _CREATED.fullmatch(created):  # most records: no strptime (a tenth of the parse)
        try:
            return date(int(m[3]), _MONTHS.index(m[2]) + 1, int(m[1])).isoformat()
        except ValueError:
            return None
    try:
        return datetime.strptime(created, "%a, %d %b %Y %H:%M:%S %Z").date().isoformat()
    except ValueError:
        return None


def _submitted(record: dict) -> str | None:
    """The first version's date (ISO), else the last update's."""
    versions = record.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], dict):
        day = _created_day(str(versions[0].get("created", "")))
        if day:
            return day
    updated = record.get("update_date")
    if isinstance(updated, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", updated):
        return updated
    return None


def arxiv_paper(record: dict, source: str) -> Paper:
    """One snapshot record; raises ValueError naming what is missing."""
    title, abstract = record.get("title"), record.get("abstract")
    for name, value in (("title", title), ("abstract", abstract)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f'missing or empty "{name}"')
    arxiv_id = clean_arxiv_id(str(record["id"]))
    if arxiv_id is None:
        raise ValueError(f"not an arXiv id: {str(record['id'])[:40]!r}")
    day = _submitted(record)
    authors = _authors(record)
    categories = record.get("categories")
    venue = record.get("journal-ref")
    meta = PaperMeta(
        authors=authors,
        year=int(day[:4]) if day else None,
        venue=venue.strip() if isinstance(venue, str) and venue.strip() else None,
        doi=clean_doi(record["doi"]) if isinstance(record.get("doi"), str) else None,
        arxiv_id=arxiv_id,
        categories=tuple(categories.split()) if isinstance(categories, str) else (),
    )
    paper = make_paper(str(title), str(abstract), source, len(authors) or None, day)
    return replace(paper, meta=meta)
