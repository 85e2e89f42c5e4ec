"""Questions about a paper's record rather than its content: who wrote it, when, and where.

An abstract rarely says who wrote it or where it appeared, so the answer to "Who wrote the
ELECTRA paper?" comes from the record a source file gave (BibTeX, the arXiv snapshot, JSONL),
or, when the collection has none, says so instead of quoting the abstract as if it answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paperchat.extractive import join_words
from paperchat.records import Hit
from paperchat.tex import plain

MAX_AUTHORS = 8  # more are "et al.": a sentence, not an author list
MAX_FIELD_CHARS = 120  # a record's fields are untrusted: one name or venue, not a page

_AUTHORS = re.compile(
    r"\bwho\s+(?:wrote|writes|authored|are\s+the\s+authors|is\s+the\s+author|made|created)\b"
    # Not "written by X": "Which paper was written by Clark?" looks a paper up by its author
    # (the author filter does that); "Who wrote it?" asks for the record.
    # "The authors of BART?", "List the authors of BART": asking for them; not "What do the
    # authors of SELFormer use instead of SMILES?", which asks what they did.
    r"|^\s*(?:(?:what|which)\s+(?:are|were)\s+|(?:list|name|give\s+me|tell\s+me|show\s+me)"
    r"\s+)?(?:the\s+)?authors?\s+of\b|\bwhose\s+paper\b",
    re.IGNORECASE,
)
_WHEN = re.compile(
    r"\bwhen\s+(?:was|were|did)\b.*\b(?:published|released|written|appear|come\s+out|out)\b"
    r"|\b(?:what|which)\s+year\b|\bpublication\s+(?:date|year)\b|\bpublished\s+(?:in|on)\s+what\b",
    re.IGNORECASE,
)
_VENUE = re.compile(
    r"\b(?:what|which)\s+(?:venue|conference|journal)\b|\bwhere\s+(?:was|were)\b.*\bpublished\b"
    r"|\bpublished\s+(?:at|in)\s+(?:which|what)\s+(?:venue|conference|journal)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Asked:
    """What of a paper's record a question asks for."""

    authors: bool = False
    when: bool = False
    venue: bool = False

    def __bool__(self) -> bool:
        return self.authors or self.when or self.venue


def asked(question: str) -> Asked:
    """The parts of the record the question asks about (all False for a content question)."""
    return Asked(
        authors=bool(_AUTHORS.search(question)),
        when=bool(_WHEN.search(question)),
        venue=bool(_VENUE.search(question)),
    )


def record_sentence(what: Asked, hit: Hit, n: int) -> str:
    """One sentence, citing source `n`: what the paper's record holds of `what`, and plainly
    what it does not."""
    meta = hit.meta
    people = [_field(a) for a in meta.authors[:MAX_AUTHORS]]
    more = len(meta.authors) > MAX_AUTHORS
    authors = (
        f"is by {', '.join(people) + ' et al.' if more else join_words(people)}" if people else ""
    )
    when = f"appeared in {meta.year}" if meta.year else ""
    if not when and hit.date:
        when = f"is listed with the date {hit.date}"
    venue = f"appeared in {_field(meta.venue)}" if meta.venue else ""
    # (asked for, what the record says, the word for its absence)
    parts = (
        (what.authors, authors, "authors"),
        (what.when, when, "date"),
        (what.venue, venue, "venue"),
    )
    said = [known for asked_for, known, _ in parts if asked_for and known]
    missing = [gap for asked_for, known, gap in parts if asked_for and not known]
    title = f'"{plain(hit.title)}" [{n}]'
    if not said:
        return f"The collection's record of {title} gives no {join_words(missing, 'or')}."
    gaps = f"; its record gives no {join_words(missing, 'or')}" if missing else ""
    text = f"{title} {join_words(said)}{gaps}"
    return text if text.endswith(".") else text + "."  # "et al." ends it already


def _field(text: str) -> str:
    """One line, bounded."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_FIELD_CHARS else flat[: MAX_FIELD_CHARS - 1] + "…"
