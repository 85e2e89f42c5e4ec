"""Questions about a paper's record rather than its content: who wrote it, when, and where,
and which papers an author wrote.

An abstract rarely says who wrote it or where it appeared, so the answer to "Who wrote the
ELECTRA paper?" comes from the record a source file gave (BibTeX, the arXiv snapshot, JSONL),
or, when the collection has none, says so instead of quoting the abstract as if it answered.
"Papers by Kevin Clark" is looked up the same way, by the records' authors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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


# Papers looked up by who wrote them: "Papers by Kevin Clark", "Which papers did Clark
# write?", "List the works from LeCun". The name is all that follows (or precedes "write").
_NAME = r"(?P<name>[^\W\d_][\w'.-]*(?:\s+[^\W\d_][\w'.-]*){0,3})"
_PAPERS = r"(?:papers?|works?|articles?|publications?)"
_BY_AUTHOR = (
    re.compile(
        r"^\s*(?:(?:which|what|list|show(?:\s+me)?|find|give\s+me|are\s+there)\s+)?"
        rf"(?:the\s+|all\s+|any\s+)?{_PAPERS}\s+(?:(?:are|were|was|is)\s+)?"
        rf"(?:(?:written|authored|co-?authored)\s+by|by|from)\s+{_NAME}\s*[?.!]*\s*$",
        re.IGNORECASE,
    ),
    re.compile(
        rf"^\s*(?:which|what)\s+(?:{_PAPERS}\s+)?(?:did|has|have)\s+{_NAME}\s+"
        r"(?:write|written|author|authored|co-?authored|publish|published)\s*[?.!]*\s*$",
        re.IGNORECASE,
    ),
)
# Not a person: "papers from the collection", "papers from this year".
_NOT_NAME_WORDS = (
    "the a an this that these those collection corpus library index database my our your "
    "me us them it all any some year month week"
)
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())
# An acronym is a paper's or a model's name, not a person's: "papers from CLIP".
_ACRONYM = re.compile(r"[A-Z]{2,}\d*")


def author_named(question: str) -> str | None:
    """The author whose papers the question asks for, or None. A name is capitalised
    ("Kevin Clark", "LeCun"), unless the whole question is typed in lower case."""
    for pattern in _BY_AUTHOR:
        found = pattern.match(question)
        if not found:
            continue
        name = " ".join(found["name"].split())
        parts = name.split()
        if any(p.lower() in _NOT_NAMES or _ACRONYM.fullmatch(p) for p in parts):
            return None
        if question != question.lower() and not all(p[0].isupper() for p in parts):
            return None
        return name
    return None


def author_filter_names(author: str) -> tuple[str, ...]:
    """What the author filter is given for a name asked about: the name, or its last name
    when it has initials ("Y. LeCun" is recorded as "Yann LeCun")."""
    parts = author.split()
    if any(len(p.rstrip(".")) == 1 for p in parts[:-1]):
        return (parts[-1],)
    return (author,)


def by_author_sentence(
    author: str, hits: Sequence[Hit], more: bool = False, recorded: bool = True
) -> str:
    """One sentence listing the papers whose records name `author`, each cited by its number
    (1, 2, ... in the order given); `more` when there are others beyond these, `recorded`
    False when no record of the collection names any author."""
    who = _field(author)
    if not hits:
        none = "" if recorded else "; none of its records names any author"
        return f"No paper in the collection lists {who} among its authors{none}."
    cited = [f'"{plain(h.title)}" [{n}]' for n, h in enumerate(hits, start=1)]
    if more:
        some = f"more than {len(hits)} papers by {who}; {len(hits)} of them"
        return f"The collection lists {some}: {join_words(cited)}."
    count = "1 paper" if len(hits) == 1 else f"{len(hits)} papers"
    return f"The collection lists {count} by {who}: {join_words(cited)}."


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
