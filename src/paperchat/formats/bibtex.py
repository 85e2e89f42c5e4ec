"""BibTeX exports (Zotero, Mendeley, JabRef) -> Papers, parsed by bibtexparser.

The file is read a few hundred entries at a time (a new entry starts at a line beginning with
`@type{`), so a large library is parsed in bounded memory; `@string` macros stay known across
batches. LaTeX accents and protective braces become plain text (bibtexparser's
LatexDecodingMiddleware). Entries without a title or an abstract, and entries the parser
cannot read, are reported with their line; the rest ingests.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import bibtexparser
from bibtexparser.library import Library
from bibtexparser.middlewares import LatexDecodingMiddleware, SeparateCoAuthors
from bibtexparser.model import Entry, String

from paperchat.corpus import Problem, _iso_date, make_paper
from paperchat.errors import CorpusError
from paperchat.formats.arxiv import arxiv_id_of_doi, clean_arxiv_id, clean_doi
from paperchat.records import Paper, PaperMeta

ENTRIES_PER_BATCH = 256
# The splitter logs each malformed block; they are reported as Problems with file and line.
logging.getLogger("bibtexparser.splitter").setLevel(logging.ERROR)
_ENTRY_START = re.compile(r"^\s*@\s*\w+\s*[{(]")


def _blocks(path: Path) -> Iterator[tuple[int, str]]:
    """(first line number, text) of batches of whole entries."""
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror or e}); check the path.") from e
    with handle:
        lines: list[str] = []
        start, entries = 1, 0
        try:
            for number, line in enumerate(handle, start=1):
                if _ENTRY_START.match(line):
                    if entries == ENTRIES_PER_BATCH:
                        yield start, "".join(lines)
                        lines, start, entries = [], number, 0
                    entries += 1
                lines.append(line)
        except UnicodeDecodeError as e:
            raise CorpusError(f"{path}: not UTF-8 text; export the library as UTF-8.") from e
        if lines:
            yield start, "".join(lines)


def parse_bibtex(path: Path, problems: list[Problem]) -> Iterator[Paper]:
    library = Library()  # holds the @string macros of earlier batches
    for first_line, text in _blocks(path):
        library.remove([b for b in library.blocks if not isinstance(b, String)])
        try:
            bibtexparser.parse_string(
                text,
                append_middleware=[LatexDecodingMiddleware(), SeparateCoAuthors()],
                library=library,
            )
        except Exception as e:  # the parser raises on states it cannot recover from
            problems.append(Problem(path, first_line, f"BibTeX entries skipped: {e}"))
            continue
        blocks = sorted([*library.entries, *library.failed_blocks], key=lambda b: b.start_line)
        for block in blocks:  # in file order, so problems are reported in line order
            line = first_line + block.start_line
            if not isinstance(block, Entry):
                why = f"malformed BibTeX entry skipped: {_why(block)}"
                problems.append(Problem(path, line, why))
                continue
            try:
                yield entry_paper(block, path.name, line)
            except ValueError as e:
                problems.append(Problem(path, line, f"entry {block.key!r} skipped: {e}"))


def _why(block: object) -> str:
    error = getattr(block, "error", None)
    text = getattr(error, "abort_reason", None) or str(error or "") or type(block).__name__
    return " ".join(text.split())[:200]


def _field(entry: Entry, *names: str) -> str | None:
    fields = {k.casefold(): f.value for k, f in entry.fields_dict.items()}
    for name in names:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return None


def _names(entry: Entry) -> tuple[str, ...]:
    field = entry.fields_dict.get("author") or entry.fields_dict.get("Author")
    value = field.value if field else []
    names = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    # "Last, First" -> "First Last"; "{Institution Name}" stays whole.
    out = []
    for name in names:
        last, _, first = (" ".join(name.split())).partition(", ")
        out.append(f"{first} {last}".strip() if first else last)
    return tuple(n for n in out if n)


def _date(entry: Entry) -> tuple[str | None, int | None]:
    """(ISO date when the entry has a full one, year)."""
    if day := _field(entry, "date"):
        iso = _iso_date(day)
        if iso:
            return iso, int(iso[:4])
    year_text = _field(entry, "year") or (day or "")[:4]
    year = int(year_text) if re.fullmatch(r"\d{4}", year_text or "") else None
    return None, year


def _arxiv_id(entry: Entry, doi: str | None) -> str | None:
    prefix = (_field(entry, "archiveprefix", "eprinttype") or "").casefold()
    eprint = _field(entry, "eprint")
    if eprint and (prefix == "arxiv" or eprint.casefold().startswith("arxiv:")):
        return clean_arxiv_id(eprint)
    url = _field(entry, "url") or ""
    return arxiv_id_of_doi(doi) or (clean_arxiv_id(url) if "arxiv.org/" in url else None)


def _categories(entry: Entry) -> tuple[str, ...]:
    primary = _field(entry, "primaryclass")
    keywords = [k.strip() for k in re.split(r"[,;]", _field(entry, "keywords") or "")]
    return tuple(dict.fromkeys(c for c in (primary, *keywords) if c))


def entry_paper(entry: Entry, source: str, line: int | None = None) -> Paper:
    """One entry; raises ValueError naming what is missing."""
    title, abstract = _field(entry, "title"), _field(entry, "abstract")
    if not title:
        raise ValueError("no title")
    if not abstract:
        raise ValueError(f"no abstract ({title[:80]!r})")
    doi = clean_doi(_field(entry, "doi") or "")
    url = _field(entry, "url")
    day, year = _date(entry)
    names = _names(entry)
    meta = PaperMeta(
        authors=names,
        year=year,
        venue=_field(entry, "journal", "journaltitle", "booktitle"),
        doi=doi,
        arxiv_id=_arxiv_id(entry, doi),
        categories=_categories(entry),
        url=url if url and url.casefold().startswith(("https://", "http://")) else None,
    )
    paper = make_paper(title, abstract, source, len(names) or None, day, line=line)
    urls = (meta.url, *paper.urls) if meta.url and meta.url not in paper.urls else paper.urls
    return replace(paper, meta=meta, urls=urls)


def looks_like_bibtex(head: str) -> bool:
    """True when a text's beginning holds a BibTeX entry (for files without a .bib suffix)."""
    return any(_ENTRY_START.match(line) for line in head.splitlines())
