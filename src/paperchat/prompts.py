"""Load and render the prompt files in `prompts/`.

Everything a model sees comes from those files. Loading checks that each file's placeholders
are exactly the ones the code supplies, so an edited prompt cannot silently drop the sources.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paperchat.errors import ConfigError
from paperchat.records import Hit

# Shared by the prompt (what the model is told to say) and the parser (what it looks for).
ABSTAIN_PHRASE = "The collection does not answer this question."
CITATION_FORMAT = "[{n}]"

PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": frozenset({"abstain_phrase"}),
    "answer": frozenset({"sources", "question"}),
    "condense": frozenset({"history", "question"}),
    "abstain": frozenset({"abstain_phrase", "closest"}),
}


@dataclass(frozen=True, slots=True)
class Source:
    """A numbered source as the model sees it."""

    n: int
    hit: Hit
    passage: str


def placeholders(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


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
            raise ConfigError(f"{path}: bad placeholder syntax ({e}); use {{name}}.") from e
        if found != needed:
            raise ConfigError(
                f"{path}: placeholders {sorted(found)} but the code supplies {sorted(needed)}."
            )
        return text

    def render(self, name: str, **values: str) -> str:
        return self.templates[name].format(**values)

    def system(self) -> str:
        return self.render("system", abstain_phrase=ABSTAIN_PHRASE)

    def answer(self, sources: Sequence[Source], question: str) -> str:
        return self.render("answer", sources=render_sources(sources), question=question)

    def condense(self, history: str, question: str) -> str:
        return self.render("condense", history=history, question=question)

    def abstain(self, closest: Sequence[Hit]) -> str:
        lines = "\n".join(f"- {h.title}" for h in closest) or "- (none)"
        return self.render("abstain", abstain_phrase=ABSTAIN_PHRASE, closest=lines)


def render_sources(sources: Sequence[Source]) -> str:
    return "\n\n".join(f"{marker(s.n)} {s.hit.title}: {s.passage}" for s in sources)


def marker(n: int) -> str:
    return CITATION_FORMAT.format(n=n)
