"""Citations you can trust: parse `[n]` markers and check each sentence against its source.

A marker that names no source is dropped (and reported); a sentence cited to a source that
does not support it, or that another source supports far better, is re-cited to that source;
an uncited sentence gets the best supporting source; a sentence no source supports is reported
as unsupported. The abstain phrase is never cited.

Support is closeness in meaning, which reads a sentence's topic, not its facts: "Elon Musk
created Language-Codec in 2019 [1]" is as close to Language-Codec's abstract as a true
sentence. So a source supports a sentence only if it also holds the sentence's specifics, its
numbers and the names it capitalises, unless the question or a source's title says them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from paperchat.embedding import Embedder
from paperchat.prompts import ABSTAIN_PHRASE, CITATION_FORMAT, Source, marker

# The marker pattern comes from CITATION_FORMAT, so the prompt and the parser cannot drift.
_OPEN, _CLOSE = (re.escape(part) for part in CITATION_FORMAT.split("{n}"))
_NUMBERS = r"\d+(?:\s*[-\u2013,;]\s*\d+)*"  # "1", "1, 2", "1;2", "1-3"
_MARKERS = re.compile(rf"\s*{_OPEN}({_NUMBERS}){_CLOSE}")
# A sentence ends at . ! ? (plus any markers right after it) followed by space and an
# upper-case letter, digit, quote or list bullet; "tokens. [1] Next" keeps [1] with "tokens".
# A closing quote may follow the end: '... like "Grab the left ear." To tackle this, ...'.
_SENTENCE_END = re.compile(
    rf"[.!?][\"\u201d']?(?:\s*{_OPEN}{_NUMBERS}{_CLOSE})*\s+(?=[\"'(A-Z0-9*-])"
)
# Abbreviations whose period ends no sentence, and single capital initials ("J. Smith").
_ABBREVIATION = re.compile(
    r"(?<![\w.])(?:(?i:e\.g|i\.e|et al|vs|cf|approx|resp|incl|fig|figs|eq|eqs|sec|tab)|[A-Z])\.$"
)
# "No." before a number ("ranking No. 1") abbreviates "number"; elsewhere "no." ends a sentence.
_NUMBER_SIGN = re.compile(r"(?<![\w.])(?i:no|nos)\.$")
# An unclosed parenthesis holds a sentence open for at most this many characters.
MAX_PARENTHESISED_CHARS = 600
MIN_CLAIM_WORDS = 4  # shorter fragments ("In short:") need no source
MAX_RANGE = 20  # "[1-3]" is a range; "[2019-2023]" is not one to expand
# When every cited source supports a sentence this much less than an uncited one, the
# citation moves to that one: a paper on the same topic may clear the threshold too.
RECITE_MARGIN = 0.15
_ABSTAIN = ABSTAIN_PHRASE.lower().rstrip(".")
_ABSTAIN_WORDS = _ABSTAIN.split()
_OPEN_CHAR, _CLOSE_CHAR = CITATION_FORMAT.split("{n}")
_TRAILING = ".!?,;:\"')\u2026 \t\n"


# A sentence's specifics: numbers ("12.5", "2019") and capitalised words past its first
# ("Berkeley", "RoBERTa", "ELECTRA's").
_TOKEN = re.compile(r"[A-Za-z0-9](?:[\w'\u2019.-]|,(?=\d))*")  # "1,024" is one number
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")  # "1,024" is 1024
_OPENS_CLAUSE = re.compile(r"[:;]\s*$")


def specifics(claim: str) -> tuple[set[str], set[str]]:
    """The claim's numbers and its capitalised words (lower-cased), past its first word and
    any word opening a clause after a colon."""
    numbers: set[str] = set()
    names: set[str] = set()
    for i, found in enumerate(_TOKEN.finditer(claim)):
        word = found.group().rstrip(".")
        if _DIGITS.search(word):
            numbers.update(_DIGITS.findall(_THOUSANDS.sub("", word)))
        elif (
            i
            and len(word) > 1
            and word[0].isupper()
            and not _OPENS_CLAUSE.search(claim[: found.start()])
        ):
            names.add(_bare(word))
    return numbers, names


def _bare(word: str) -> str:
    return re.sub(r"['\u2019]s$", "", word.lower())


def _held(text: str) -> tuple[set[str], set[str]]:
    """The numbers and the words of a text, as `specifics` compares them (a hyphenated word
    also as its parts: "Language-Codec" holds "Codec")."""
    numbers = set(_DIGITS.findall(_THOUSANDS.sub("", text)))
    found = {_bare(w.rstrip(".")) for w in _TOKEN.findall(text)}
    return numbers, found | {part for w in found for part in re.split(r"[-/]", w) if part}


@dataclass(slots=True)
class CheckedSentence:
    text: str  # the sentence with its verified markers
    cited: list[int] = field(default_factory=list)
    invalid: list[int] = field(default_factory=list)
    supported: bool = True
    abstains: bool = False  # the sentence is the abstain phrase


def split_markers(sentence: str) -> tuple[str, list[int]]:
    """The sentence without its markers, and the numbers the markers named (in order)."""
    numbers: list[int] = []
    for match in _MARKERS.finditer(sentence):
        numbers.extend(_numbers(match.group(1)))
    return _MARKERS.sub("", sentence).strip(), list(dict.fromkeys(numbers))


def _numbers(group: str) -> list[int]:
    found: list[int] = []
    for part in re.split(r"[,;]", group):
        ends = [int(x) for x in re.split(r"[-\u2013]", part)]
        low, high = ends[0], ends[-1]
        if len(ends) == 2 and low <= high and high - low <= MAX_RANGE:
            found.extend(range(low, high + 1))
        else:
            found.extend(ends)
    return found


def is_abstention(text: str) -> bool:
    """The text says the collection does not answer (the phrase the prompt asks for)."""
    return _ABSTAIN in " ".join(text.lower().split())


def _before_abstain(text: str) -> str:
    """`text` up to where the abstain phrase might begin (its words so far match the phrase)."""
    words = text.split()
    lowered = [w.lower().strip(".,") for w in words]
    if _ABSTAIN in " ".join(lowered):
        return ""
    for start in range(len(words)):
        if _may_begin_abstain(lowered[start:]):
            if start == 0:
                return ""
            # Cut at the start of that word in the text, keeping the text as written.
            return text[: _word_start(text, start)].rstrip()
    return text


def _may_begin_abstain(tail: list[str]) -> bool:
    """The words (the last one perhaps unfinished) could be the start of the abstain phrase."""
    if not tail or len(tail) > len(_ABSTAIN_WORDS):
        return False
    *whole, last = tail
    return whole == _ABSTAIN_WORDS[: len(whole)] and _ABSTAIN_WORDS[len(whole)].startswith(last)


def _word_start(text: str, index: int) -> int:
    return [m.start() for m in re.finditer(r"\S+", text)][index]


def split_sentences(text: str) -> list[str]:
    """Sentences of a finished text; markers stay with the sentence they follow."""
    return [p.strip() for p in _cut(text.strip()) if p.strip()]


def _cut(text: str) -> list[str]:
    """Cut after each sentence end; the last piece may be an unfinished sentence.

    A period after an abbreviation ("e.g.", "et al.", "vs.", "No. 1") or an initial, and any end
    inside parentheses ("(e.g. 12.5Hz)"), is no sentence end. Decimals and version numbers
    ("2.5", "v1.5") never match: an end needs a space after it.
    """
    parts, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        piece = text[start : match.start() + 1]
        numbered = _NUMBER_SIGN.search(piece) and text[match.end() : match.end() + 1].isdigit()
        if numbered or not _ends_sentence(piece):
            continue
        parts.append(text[start : match.end()])
        start = match.end()
    parts.append(text[start:])
    return parts


def _ends_sentence(piece: str) -> bool:
    """Whether the piece, ending at a . ! or ?, is a whole sentence."""
    if piece.endswith(".") and _ABBREVIATION.search(piece):
        return False
    depth = piece.count("(") - piece.count(")") + piece.count("[") - piece.count("]")
    return depth <= 0 or len(piece) > MAX_PARENTHESISED_CHARS


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

    def streamable(self) -> str:
        """The part of the unfinished sentence that may be shown before it is checked.

        Markers (whole or partial) are left out, so no unchecked number reaches a reader, and
        so are the trailing punctuation (checked markers go before it) and any tail that may
        be the start of the abstain phrase (which replaces the whole sentence). What this
        returns is always a prefix of the checked sentence's text.
        """
        text = self.pending.lstrip()
        opened = text.rfind(_OPEN_CHAR)
        if opened >= 0 and _CLOSE_CHAR not in text[opened:]:
            text = text[:opened]  # "tokens [1" may still become a marker
        text = _MARKERS.sub("", text).rstrip().rstrip(_TRAILING).rstrip()
        return _before_abstain(text)

    def flush(self) -> Iterator[str]:
        if self.pending.strip():
            yield self.pending.strip()
        self.pending = ""


class Repeats:
    """The sentences a model has written, to leave out one it writes again: small models loop
    ("The Language-Codec is a new language model ..." five times over)."""

    def __init__(self) -> None:
        self._said: set[str] = set()

    def again(self, sentence: str) -> bool:
        """True when the sentence (markers aside, any case and spacing) was written before;
        otherwise it is now."""
        key = _said(sentence)
        if key in self._said:
            return True
        self._said.add(key)
        return False

    def may_repeat(self, start: str) -> bool:
        """The unfinished sentence so far begins one already written: not shown yet."""
        key = _said(start)
        return bool(key) and any(said.startswith(key) for said in self._said)


def _said(sentence: str) -> str:
    return " ".join(split_markers(sentence)[0].casefold().split())


class CitationChecker:
    """Scores sentences against the numbered sources with the dense embedder."""

    def __init__(
        self,
        embedder: Embedder,
        sources: Sequence[Source],
        threshold: float,
        *,
        margin: float = RECITE_MARGIN,
        question: str = "",
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.margin = margin
        self.numbers = [s.n for s in sources]
        # A source is its title and its passage sentences; support = the best match.
        self._owners: list[int] = []
        texts: list[str] = []
        for s in sources:
            for text in [s.hit.title, *(split_sentences(s.passage) or [s.passage])]:
                texts.append(text)
                self._owners.append(s.n)
        self._vectors = embedder.embed(texts) if texts else np.zeros((0, 1))
        self._held = {s.n: _held(f"{s.hit.title} {s.passage}") for s in sources}
        # Named by the question or a source's title: any source may say it ("DeBERTaV3" in a
        # sentence comparing it with ELECTRA, cited to both).
        self._known = _held(" ".join([question, *(s.hit.title for s in sources)]))

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
        if not claim:  # markers alone: nothing to cite
            return CheckedSentence("", [], invalid)
        if is_abstention(claim):
            return CheckedSentence(claim, [], invalid, abstains=True)
        if len(claim.split()) < MIN_CLAIM_WORDS:
            return CheckedSentence(with_markers(claim, valid), valid, invalid)
        kept = self.verified(claim, valid)
        return CheckedSentence(with_markers(claim, kept), kept, invalid, supported=bool(kept))

    def verified(self, claim: str, cited: Sequence[int]) -> list[int]:
        """The cited sources that support the claim, or else the one that supports it best.
        A source that lacks one of the claim's specifics supports it not at all."""
        numbers, names = specifics(claim)
        numbers -= self._known[0]
        names -= self._known[1]
        scores = {
            n: score
            for n, score in self.support(claim).items()
            if numbers <= self._held[n][0] and names <= self._held[n][1]
        }
        if not scores:
            return []
        best = max(scores, key=lambda n: scores[n])
        if scores[best] < self.threshold:
            return []
        kept = [n for n in cited if scores.get(n, 0.0) >= self.threshold]
        if not kept or scores[best] - max(scores[n] for n in kept) >= self.margin:
            return [best]  # uncited, or cited to a paper that only shares the topic
        return kept


def with_markers(claim: str, numbers: Sequence[int]) -> str:
    """Markers go before the sentence's final punctuation: "... tokens [1]."."""
    if not numbers or not claim:
        return claim
    tags = "".join(marker(n) for n in numbers)
    if claim[-1] in ".!?":
        return f"{claim[:-1].rstrip()} {tags}{claim[-1]}"
    return f"{claim} {tags}"
