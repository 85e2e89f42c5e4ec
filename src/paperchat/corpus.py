"""Corpus files -> Papers.

Formats, told apart by suffix and content (`detect_format`):
- saved paper listings (`.txt`): page chrome, then blocks of a title line and an abstract
  paragraph, sometimes followed by an author count ("• 4 authors"), "·" and a date;
- JSONL (`.jsonl`): one `{"title", "abstract", ...optional "authors", "date", "url"}` a line;
- the arXiv metadata snapshot (`.json` / `.jsonl`, one arXiv record a line; formats/arxiv.py);
- BibTeX (`.bib`, reference-manager exports; formats/bibtex.py).

Parsing streams, so a multi-GB JSONL is read in bounded memory. Problems are reported as
`Problem`s naming the file and line; the good papers of the same file still come through.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

from paperchat.errors import CorpusError
from paperchat.records import Paper

SUFFIXES = (".txt", ".jsonl", ".json", ".bib")
FORMATS = ("listing", "jsonl", "arxiv", "bibtex")
SNIFF_BYTES = 8192
CHROME_LINES = frozenset(
    {
        "new",
        "subscribe",
        "get trending papers in your email inbox!",
        "byak and the research community",
        "daily papers",
        "·",
        "•",
    }
)
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_LISTING_DATE = re.compile(rf"^(?:{_MONTHS})[a-z]* \d{{1,2}}$", re.IGNORECASE)
_PAPER_DATE = re.compile(rf"^((?:{_MONTHS})[a-z]* \d{{1,2}}, \d{{4}})(?:\s+\d+)?$", re.IGNORECASE)
_AUTHORS = re.compile(r"^[•·]?\s*(\d+)\s+authors?$", re.IGNORECASE)
# Listings sometimes mangle "https://" as "https;//"; keep such links, repaired.
_URL = re.compile(r"https?[:;]//[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
MAX_TITLE_CHARS = 300
MIN_ABSTRACT_CHARS = 100


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in a corpus file that could not become a paper."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)  # 0: line unknown
        return f"{where}: {self.message}"


def normalize_title(title: str) -> str:
    """Case, accents, punctuation and spacing folded, so listings agree on one paper."""
    text = unicodedata.normalize("NFKD", title)
    if not text.isascii():  # ASCII has no combining marks: most titles skip the walk
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def paper_id_for(title: str) -> str:
    """Stable id: the same title gives the same id on every machine and run."""
    return hashlib.sha1(normalize_title(title).encode()).hexdigest()[:16]


def content_hash(title: str, abstract: str) -> str:
    return hashlib.sha1(f"{title}\n{abstract}".encode()).hexdigest()[:16]


def find_urls(text: str) -> tuple[str, ...]:
    """Code/project links in an abstract, repaired and without trailing punctuation."""
    found: list[str] = []
    for match in _URL.finditer(text):
        url = re.sub(r"^(https?);//", r"\1://", match.group(0), flags=re.IGNORECASE)
        url = url.rstrip(".,;:!?")
        if url not in found:
            found.append(url)
    return tuple(found)


def make_paper(
    title: str,
    abstract: str,
    source: str,
    authors: int | None = None,
    day: str | None = None,
    line: int | None = None,
) -> Paper:
    title, abstract = " ".join(title.split()), " ".join(abstract.split())
    return Paper(
        paper_id=paper_id_for(title),
        title=title,
        abstract=abstract,
        sources=(source,),
        authors=authors,
        date=day,
        urls=find_urls(abstract),
        line=line,
    )


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(text: str) -> str | None:
    if _ISO_DAY.fullmatch(day := text.strip()):  # most records: no format to try in turn
        try:
            return date.fromisoformat(day).isoformat()
        except ValueError:
            return None
    for fmt in ("%b %d, %Y", "%B %d, %Y", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d"):
        try:
            return datetime.strptime(text.strip()[:19], fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror or e}); check the path.") from e
    if b"\x00" in raw[:8192]:
        raise CorpusError(f"{path}: binary file, not a listing; give .txt or .jsonl files.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise CorpusError(f"{path}:{line}: not UTF-8 text; save the file as UTF-8.") from e


# -- listings ------------------------------------------------------------------------------


def _is_chrome(line: str) -> bool:
    return line.casefold() in CHROME_LINES or bool(_LISTING_DATE.match(line))


class _ListingParser:
    """Pairs each title line with the abstract paragraph that follows it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = path.name
        self.title: tuple[int, str] | None = None  # pending title (line number, text)
        self.last: Paper | None = None
        self.problems: list[Problem] = []

    def feed(self, number: int, line: str) -> Iterator[Paper]:
        if _is_chrome(line):
            return
        if (m := _AUTHORS.match(line)) and self.last is not None:
            self.last = replace(self.last, authors=int(m.group(1)))
            return
        if (m := _PAPER_DATE.match(line)) and self.last is not None:
            self.last = replace(self.last, date=_iso_date(m.group(1)))
            return
        if self.title is None:
            yield from self._start(number, line)
        else:
            yield from self._finish(number, line)

    def _start(self, number: int, line: str) -> Iterator[Paper]:
        if len(line) > MAX_TITLE_CHARS:
            self.problems.append(Problem(self.path, number, "paragraph without a title line"))
            return
        yield from self.flush()
        self.title = (number, line)

    def _finish(self, number: int, line: str) -> Iterator[Paper]:
        assert self.title is not None
        title_line, title = self.title
        if len(line) < MIN_ABSTRACT_CHARS:
            # Too short for an abstract: the previous title had none; this line is a title.
            self.problems.append(_no_abstract(self.path, title_line, title))
            self.title = (number, line)
            return
        self.title = None
        self.last = make_paper(title, line, self.source, line=title_line)
        yield from ()

    def flush(self) -> Iterator[Paper]:
        if self.last is not None:
            yield self.last
            self.last = None

    def close(self) -> Iterator[Paper]:
        yield from self.flush()
        if self.title is not None:
            number, title = self.title
            self.problems.append(_no_abstract(self.path, number, title))


def _no_abstract(path: Path, line: int, title: str) -> Problem:
    return Problem(path, line, f"title without an abstract: {title!r}")


def parse_listing(path: Path, problems: list[Problem]) -> Iterator[Paper]:
    parser = _ListingParser(path)
    for number, raw in enumerate(_read_text(path).splitlines(), start=1):
        line = " ".join(raw.split())
        if line:
            yield from parser.feed(number, line)
    yield from parser.close()
    problems.extend(parser.problems)


# -- JSONL -----------------------------------------------------------------------------------


def _authors(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list):
        return len(value)
    if isinstance(value, str) and value.strip():
        return len([a for a in re.split(r",| and ", value) if a.strip()])
    return None


def _record_to_paper(record: object, source: str, line: int | None = None) -> Paper:
    from paperchat.formats.arxiv import arxiv_paper, is_arxiv_record

    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    if is_arxiv_record(record):
        return replace(arxiv_paper(record, source), line=line)
    title, abstract = record.get("title"), record.get("abstract")
    for name, value in (("title", title), ("abstract", abstract)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f'missing or empty "{name}"')
    day = record.get("date") or record.get("update_date") or record.get("published")
    paper = make_paper(
        str(title), str(abstract), source, _authors(record.get("authors")), line=line
    )
    extra_url = record.get("url")
    urls = paper.urls
    if isinstance(extra_url, str) and extra_url and extra_url not in urls:
        urls = (extra_url, *urls)
    meta = replace(paper.meta, url=extra_url) if isinstance(extra_url, str) and extra_url else None
    return replace(
        paper,
        date=_iso_date(str(day)) if day else None,
        urls=urls,
        meta=meta or paper.meta,
    )


def parse_jsonl(path: Path, problems: list[Problem]) -> Iterator[Paper]:
    try:
        handle = path.open("rb")
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror or e}); check the path.") from e
    with handle:
        head = handle.read(SNIFF_BYTES)
        if b"\x00" in head:
            raise CorpusError(f"{path}: binary file, not JSONL.")
        if head.lstrip().startswith(b"["):
            yield from _json_array(path, handle, problems)
            return
        handle.seek(0)
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield _record_to_paper(json.loads(raw), path.name, number)
            except (ValueError, UnicodeDecodeError) as e:
                problems.append(Problem(path, number, f"skipped record: {e}"))


def _json_array(path: Path, handle: BinaryIO, problems: list[Problem]) -> Iterator[Paper]:
    """A `.json` file holding one array of records: read whole (exports of a few MB)."""
    handle.seek(0)
    try:
        records = json.load(handle)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorpusError(f"{path}: not valid JSON ({e}); give one record a line (JSONL).") from e
    for number, record in enumerate(records, start=1):
        try:
            yield _record_to_paper(record, path.name, number)
        except ValueError as e:
            problems.append(Problem(path, number, f"skipped record {number} of the array: {e}"))


# -- files -----------------------------------------------------------------------------------


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named, and the corpus files inside folders named, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            raise CorpusError(f"{path}: no such file or folder.")
    return files


def detect_format(path: Path) -> str:
    """One of FORMATS, from the suffix and the file's first bytes; CorpusError otherwise."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise CorpusError(f"{path}: unknown file type {suffix!r}; allowed: {', '.join(SUFFIXES)}.")
    if suffix == ".bib":
        return "bibtex"
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror or e}); check the path.") from e
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    if text.startswith(("{", "[")):
        return "arxiv" if _first_is_arxiv(text) else "jsonl"
    from paperchat.formats.bibtex import looks_like_bibtex

    return "bibtex" if looks_like_bibtex(text) else "listing"


def _first_is_arxiv(text: str) -> bool:
    from paperchat.formats.arxiv import is_arxiv_record

    first = text.lstrip("[ \t\r\n").split("\n", 1)[0].rstrip(", \r")
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and is_arxiv_record(record)


def parse_file(path: Path, problems: list[Problem]) -> Iterator[Paper]:
    """Papers of one file, in order; raises CorpusError when the file cannot be read."""
    kind = detect_format(path)
    if kind in ("jsonl", "arxiv"):
        yield from parse_jsonl(path, problems)
    elif kind == "bibtex":
        from paperchat.formats.bibtex import parse_bibtex

        yield from parse_bibtex(path, problems)
    else:
        yield from parse_listing(path, problems)


def merge(first: Paper, again: Paper) -> Paper:
    """One paper listed twice: keep the first text, remember every source, fill gaps."""
    sources = first.sources + tuple(s for s in again.sources if s not in first.sources)
    urls = first.urls + tuple(u for u in again.urls if u not in first.urls)
    return replace(
        first,
        sources=sources,
        urls=urls,
        authors=first.authors if first.authors is not None else again.authors,
        date=first.date or again.date,
        meta=first.meta.merged(again.meta),
    )


# -- which record wins -------------------------------------------------------------------------

# How a complete abstract ends: a sentence mark, maybe inside a closing quote or bracket.
_FINAL = (".", "!", "?", "\u2026", "\u3002", ")", "]", '"', "'", "\u201d", "\u2019")


def looks_cut_off(abstract: str) -> bool:
    """True when the text stops mid-sentence: a listing saved before the page had loaded,
    an export cut at a size limit. Abstracts often end with their code link, unpunctuated."""
    text = abstract.rstrip()
    if not text or text.endswith(_FINAL):
        return False
    return not _URL.search(text.rsplit(maxsplit=1)[-1])


def is_cut_off_copy(new: str, old: str) -> bool:
    """`new` looks like `old` cut short: it stops mid-sentence where `old` ends properly, and
    it is shorter. Such a record must never replace the complete text."""
    return looks_cut_off(new) and not looks_cut_off(old) and len(new) < len(old)


def supersede(old: Paper, new: Paper) -> Paper:
    """The same paper met again later (later in a file, or in a later file): the later text
    wins, unless it is a cut-off copy of the earlier one; sources and links accumulate."""
    text = old if is_cut_off_copy(new.abstract, old.abstract) else new
    merged = merge(text, old if text is new else new)
    return replace(
        merged, sources=old.sources + tuple(s for s in new.sources if s not in old.sources)
    )


def cap_abstract(paper: Paper, limit: int) -> Paper:
    """The paper with its abstract cut to `limit` characters at a word boundary."""
    if len(paper.abstract) <= limit:
        return paper
    cut = paper.abstract[:limit]
    cut = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return replace(paper, abstract=cut, urls=find_urls(cut))


def load_papers(paths: Iterable[Path]) -> tuple[list[Paper], list[Problem]]:
    """All papers of small corpora, deduplicated by id the way ingest does it (the shipped
    corpus, tests, eval)."""
    from paperchat.identity import Identities

    papers: dict[str, Paper] = {}
    problems: list[Problem] = []
    identities = Identities()
    for path in expand_paths(paths):
        for found in parse_file(path, problems):
            paper = identities.resolve(found)
            known = papers.get(paper.paper_id)
            papers[paper.paper_id] = supersede(known, paper) if known else paper
    return list(papers.values()), problems
