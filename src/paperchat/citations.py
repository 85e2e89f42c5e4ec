"""Citations you can trust: parse `[n]` markers and check each sentence against its source.

A marker that names no source is dropped (and reported); a sentence cited to a source that
does not support it is re-cited to the source that does; an uncited sentence gets the best
supporting source; a sentence no source supports is reported as unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from paperchat.embedding import Embedder
from paperchat.prompts import Source, marker

_MARKERS = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# A sentence ends at . ! ? (plus any markers right after it) followed by space and an
# upper-case letter, digit or quote; "tokens. [1] Next" keeps [1] with "tokens".
_SENTENCE_END = re.compile(r"[.!?](?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*\s+(?=[\"'(A-Z0-9*-])")
MIN_CLAIM_WORDS = 4  # shorter fragments ("In short:") need no source


@dataclass(slots=True)
class CheckedSentence:
    text: str  # the sentence with its verified markers
    cited: list[int] = field(default_factory=list)
    invalid: list[int] = field(default_factory=list)
    supported: bool = True


def split_markers(sentence: str) -> tuple[str, list[int]]:
    """The sentence without its markers, and the numbers the markers named (in order)."""
    numbers: list[int] = []
    for match in _MARKERS.finditer(sentence):
        numbers.extend(int(x) for x in re.split(r"[,;]", match.group(1)))
    return _MARKERS.sub("", sentence).strip(), list(dict.fromkeys(numbers))


def split_sentences(text: str) -> list[str]:
    """Sentences of a finished text; markers stay with the sentence they follow."""
    return [p.strip() for p in _cut(text.strip()) if p.strip()]


def _cut(text: str) -> list[str]:
    """Cut after each sentence end; the last piece may be an unfinished sentence."""
    parts, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        parts.append(text[start : match.end()])
        start = match.end()
    parts.append(text[start:])
    return parts


class SentenceBuffer:
    """Collects streamed deltas and releases whole sentences as they complete."""

    def __init__(self) -> None:
        self.pending = ""

    def feed(self, delta: str) -> Iterator[str]:
        self.pending += delta
        parts = _cut(self.pending)
        # The last piece may still be growing (even "tokens. [" awaits its marker): keep it.
        for part in parts[:-1]:
            if part.strip():
                yield part.strip()
        self.pending = parts[-1]

    def flush(self) -> Iterator[str]:
        if self.pending.strip():
            yield self.pending.strip()
        self.pending = ""


class CitationChecker:
    """Scores sentences against the numbered sources with the dense embedder."""

    def __init__(self, embedder: Embedder, sources: Sequence[Source], threshold: float) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.numbers = [s.n for s in sources]
        # Each source is represented by its passage sentences; support = best sentence match.
        self._owners: list[int] = []
        texts: list[str] = []
        for s in sources:
            for sent in split_sentences(s.passage) or [s.passage]:
                texts.append(sent)
                self._owners.append(s.n)
        self._vectors = embedder.embed(texts) if texts else np.zeros((0, 1))

    def support(self, claim: str) -> dict[int, float]:
        """Best similarity of the claim to each source."""
        if not self._owners:
            return {}
        sims = self._vectors @ self.embedder.embed_query(claim)
        best: dict[int, float] = {}
        for owner, sim in zip(self._owners, sims, strict=True):
            best[owner] = max(best.get(owner, -1.0), float(sim))
        return best

    def check(self, sentence: str) -> CheckedSentence:
        claim, numbers = split_markers(sentence)
        invalid = [n for n in numbers if n not in self.numbers]
        valid = [n for n in numbers if n in self.numbers]
        if len(claim.split()) < MIN_CLAIM_WORDS:
            return CheckedSentence(with_markers(claim, valid), valid, invalid)
        scores = self.support(claim)
        kept = [n for n in valid if scores.get(n, 0.0) >= self.threshold]
        if not kept and scores:
            best = max(scores, key=lambda n: scores[n])
            if scores[best] >= self.threshold:
                kept = [best]
        return CheckedSentence(with_markers(claim, kept), kept, invalid, supported=bool(kept))


def with_markers(claim: str, numbers: Sequence[int]) -> str:
    """Markers go before the sentence's final punctuation: "... tokens [1]."."""
    if not numbers:
        return claim
    tags = "".join(marker(n) for n in numbers)
    if claim and claim[-1] in ".!?":
        return f"{claim[:-1].rstrip()} {tags}{claim[-1]}"
    return f"{claim} {tags}"
