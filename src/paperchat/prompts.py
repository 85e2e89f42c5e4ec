"""Load and render the prompt files in `prompts/`.

Everything a model sees comes from those files. Loading checks that each file's placeholders
are exactly the ones the code supplies, so an edited prompt cannot silently drop the sources.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paperchat.errors import ConfigError
from paperchat.records import Hit

# Shared by the prompt (what the model is told to say) and the parser (what it looks for).
ABSTAIN_PHRASE = "The collection does not answer this question."
# Opens an answer given on weak evidence (abstention.tentative), before any model's text.
TENTATIVE_NOTE = "The collection may not answer this exactly: no paper matches it closely."
CITATION_FORMAT = "[{n}]"
# The sources block is fenced so that an abstract's text can never pass for an instruction
# outside it; the fence words are removed from passages (see `_flat`).
SOURCES_OPEN = "<sources>"
SOURCES_CLOSE = "</sources>"

PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": frozenset({"abstain_phrase", "cite_one", "cite_two"}),
    "answer": frozenset({"sources", "question", "cite_one"}),
    "condense": frozenset({"history", "question"}),
    "abstain": frozenset({"abstain_phrase", "closest"}),
    "instructions": frozenset({"instructions"}),
}
_FENCES = re.compile(rf"{re.escape(SOURCES_OPEN)}|{re.escape(SOURCES_CLOSE)}", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Source:
    """A numbered source as the model sees it."""

    n: int
    hit: Hit
    passage: str


def placeholders(template: str) -> frozenset[str]:
    """Field names of a template; ValueError for malformed braces or a positional `{}`."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    if any(not name or name.isdigit() for name in names):
        raise ValueError("positional placeholder {} or {0}")
    return frozenset(names)


class PromptSet:
    """The prompt templates, checked on load."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.templates = {name: self._load(name, needed) for name, needed in PLACEHOLDERS.items()}

    def _load(self, name: str, needed: frozenset[str]) -> str:
        path = self.folder / f"{name}.md"
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"Prompt file {path} is missing; restore it from the repo.") from e
        try:
            found = placeholders(text)
        except ValueError as e:
            raise ConfigError(
                f"{path}: bad placeholder syntax ({e}); use {{name}}, and {{{{ }}}} for a "
                "literal brace."
            ) from e
        if found != needed:
            raise ConfigError(f"{path}: {_mismatch(found, needed)}")
        return text

    def render(self, name: str, **values: str) -> str:
        return self.templates[name].format(**values)

    def system(self) -> str:
        """The shared instructions: identical for every question, so servers cache them."""
        return self.render(
            "system",
            abstain_phrase=ABSTAIN_PHRASE,
            cite_one=marker(1),
            cite_two=marker(2) + marker(3),
        )

    def instructions(self, instructions: str) -> str:
        """A client's own instructions (an API `system` message), appended after the rules."""
        return self.render("instructions", instructions=instructions.strip())

    def answer(self, sources: Sequence[Source], question: str) -> str:
        return self.render(
            "answer", sources=render_sources(sources), question=_flat(question), cite_one=marker(1)
        )

    def condense(self, history: str, question: str) -> str:
        return self.render("condense", history=history, question=question)

    def abstain(self, closest: Sequence[Hit]) -> str:
        lines = "\n".join(f"- {h.title}" for h in closest) or "- (none)"
        return self.render("abstain", abstain_phrase=ABSTAIN_PHRASE, closest=lines)


def _mismatch(found: frozenset[str], needed: frozenset[str]) -> str:
    parts = []
    if missing := sorted(needed - found):
        parts.append("missing placeholder " + ", ".join(f"{{{n}}}" for n in missing))
    if unknown := sorted(found - needed):
        parts.append("unknown placeholder " + ", ".join(f"{{{n}}}" for n in unknown))
    supplied = ", ".join(f"{{{n}}}" for n in sorted(needed))
    return f"{'; '.join(parts)}. The code supplies exactly {supplied}; restore the file."


def render_sources(sources: Sequence[Source]) -> str:
    """One line per source, `[n] Title: passage`, inside the sources fence."""
    lines = [f"{marker(s.n)} {_flat(s.hit.title)}: {_flat(s.passage)}" for s in sources]
    return "\n".join([SOURCES_OPEN, *lines, SOURCES_CLOSE])


def _flat(text: str) -> str:
    # One line per source, and no fence word inside: a passage cannot end the block early.
    return " ".join(_FENCES.sub(" ", text).split())


def marker(n: int) -> str:
    return CITATION_FORMAT.format(n=n)


# One marker `[n]` as CITATION_FORMAT writes it (the citation checker also reads "[1, 2]").
MARKER = re.compile(re.escape(CITATION_FORMAT).replace(re.escape("{n}"), r"(\d+)"))


def marked_numbers(text: str) -> list[int]:
    """The n of every single-number marker in `text`, in order."""
    return [int(n) for n in MARKER.findall(text)]
