"""The years a question keeps its papers to: "Which papers from 2024 study RAG?", "papers on
speech since 2023", "work on CLIP before 2022", "between 2020 and 2022".

Only a question asking for papers (it says "papers", "work", "studies", ...) is read so: in
"What did ELECTRA reach in 2020?" the year is part of what is asked. The years become a
date filter, as `--since`/`--until` would, and leave the question's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from paperchat.index import Filters

_YEAR = r"((?:19|20)\d{2})"
_PAPERS = re.compile(
    r"\b(?:papers?|works?|studies|study|articles?|publications?|research|preprints?)\b",
    re.IGNORECASE,
)
# (pattern, group of the first year, group of the last, shift): None leaves that end open; a
# positive shift moves the first year ("after 2022": 2023 on), a negative one the last
# ("before 2020": up to 2019).
_SPANS: tuple[tuple[re.Pattern[str], int | None, int | None, int], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), first, last, shift)
    for pattern, first, last, shift in (
        (rf"\b(?:between|from)\s+{_YEAR}\s+(?:and|to|until|-)\s+{_YEAR}\b", 1, 2, 0),
        # "from 2021 on", "since 2020 onwards"; not "from 2019 on BERT compression".
        (rf"\b(?:since|after|from)\s+{_YEAR}\s+(?:onwards?\b|on(?=\s*(?:[,.?!]|$)))", 1, None, 0),
        (rf"\bsince\s+{_YEAR}\b", 1, None, 0),
        (rf"\bafter\s+{_YEAR}\b", 1, None, 1),
        (rf"\bbefore\s+{_YEAR}\b", None, 1, -1),
        (rf"\b(?:until|up\s+to|through)\s+{_YEAR}\b", None, 1, 0),
        (
            rf"\b(?:(?:published|released|written|appeared|(?:came|come|comes)\s+out)\s+)?"
            rf"(?:in|from|of|during)\s+{_YEAR}\b",
            1,
            1,
            0,
        ),
        (
            rf"\b{_YEAR}(?=\s+(?:papers?|works?|studies|articles?|publications?|preprints?)\b)",
            1,
            1,
            0,
        ),
    )
)


@dataclass(frozen=True, slots=True)
class AskedDates:
    """The question without its years, and the years as YYYY bounds (None: open)."""

    question: str
    since: str | None = None
    until: str | None = None

    @property
    def span(self) -> str:
        """The years as a reader says them: "2024", "from 2023 on", "up to 2019", "2020 to
        2022"."""
        if self.since and self.until:
            return self.since if self.since == self.until else f"{self.since} to {self.until}"
        return f"from {self.since} on" if self.since else f"up to {self.until}"

    def filters(self, given: Filters | None = None) -> Filters:
        """These years as a date filter, on top of the filters the request `given` has."""
        years = Filters.of(since=self.since, until=self.until)
        if given is None:
            return years
        return replace(given, date_from=years.date_from, date_to=years.date_to)


def asked_dates(question: str) -> AskedDates | None:
    """The years a question asking for papers keeps them to; None when it names none."""
    if not _PAPERS.search(question):
        return None
    for pattern, first, last, shift in _SPANS:
        found = pattern.search(question)
        if not found:
            continue
        since = str(int(found.group(first)) + max(shift, 0)) if first else None
        until = str(int(found.group(last)) + min(shift, 0)) if last else None
        rest = " ".join((question[: found.start()] + " " + question[found.end() :]).split())
        return AskedDates(re.sub(r"\s+([?.!,])", r"\1", rest), since, until)
    return None
