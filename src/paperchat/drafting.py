"""An answer being written: the text deltas, its token limit and cancellation.

`Draft` holds the text so far. A sentence the model is still writing may be shown early, but
only its start that the checked sentence is known to begin with (see
`SentenceBuffer.streamable`); `Cut` ends the writing at a token limit or on cancel.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from paperchat.citations import CheckedSentence
from paperchat.records import Answer

if TYPE_CHECKING:  # annotations only: drafting sits below conversation and prompts
    from paperchat.conversation import Reading
    from paperchat.prompts import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Limits:
    """What a caller asks of one answer beyond the question.

    `max_tokens` cuts the answer text at that many tokens (finish reason "length");
    `cancel`, once set, ends the answer after the text written so far (the model stops);
    `instructions` are a client's own instructions, appended after the answer rules.
    """

    max_tokens: int | None = None
    cancel: threading.Event | None = None
    instructions: str = ""

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


class Cut(Exception):
    """The answer reached its token limit or was cancelled: stop writing.

    Carries the last, shortened piece of text, which still has to reach the reader.
    """

    def __init__(self, delta: Delta | None) -> None:
        super().__init__("answer cut")
        self.delta = delta


@dataclass(frozen=True, slots=True)
class Partial:
    """The checked-safe start of a sentence the model is still writing."""

    text: str


@dataclass(slots=True)
class Draft:
    """An answer being written: the text so far and the sources its markers name.

    A sentence the model is still writing may be shown early (`partial`): only its marker-free
    start, which the checked sentence is known to begin with; `add` then writes the rest.
    """

    answer: Answer
    start: float  # perf_counter() when the question came in
    count: Callable[[str], int]  # tokens of a text, with the answering model's tokenizer
    limits: Limits = field(default_factory=Limits)
    reading: Reading | None = None  # what the turn is about (paperchat.conversation)
    sources: list[Source] = field(default_factory=list)  # numbered as the markers name them
    cited: list[int] = field(default_factory=list)
    shown: str = ""  # the unfinished sentence's text written so far, its lead space included
    lead: str = ""

    def partial(self, text: str) -> Iterator[Delta]:
        if not text:
            return
        if not self.shown:
            self.lead = " " if self.answer.text else ""
        full = self.lead + text
        if full.startswith(self.shown) and len(full) > len(self.shown):
            delta = self.write(full[len(self.shown) :])
            self.shown = full
            yield delta

    def drop_partial(self) -> None:
        """The unfinished sentence will not be completed (the model abstained)."""
        self.shown = ""

    def add(self, sentence: CheckedSentence) -> Iterator[Delta]:
        self.answer.invalid_markers.extend(sentence.invalid)
        shown, self.shown = self.shown, ""
        if not sentence.text:
            return
        if not sentence.supported:
            self.answer.unsupported.append(sentence.text)
        self.cited.extend(n for n in sentence.cited if n not in self.cited)
        lead = self.lead if shown else (" " if self.answer.text else "")
        full = lead + sentence.text
        if not full.startswith(shown):  # streamable() starts are prefixes; stay readable anyway
            log.warning("a checked sentence does not continue its streamed start")
            full = f"{shown} {sentence.text}"
        if len(full) > len(shown):
            yield self.write(full[len(shown) :])

    def write(self, text: str) -> Delta:
        if self.limits.cancelled:
            self.answer.finish_reason = "cancelled"
            raise Cut(None)
        elapsed = time.perf_counter() - self.start
        self.answer.timings.setdefault("first_sentence", elapsed)
        self.answer.timings.setdefault("first_token", elapsed)  # when no model streamed
        limit = self.limits.max_tokens
        if limit is not None and self.count(self.answer.text + text) > limit:
            text = self._fitting(text, limit)
            self.answer.text += text
            self.answer.finish_reason = "length"
            raise Cut(Delta(text) if text else None)
        self.answer.text += text
        return Delta(text)

    def _fitting(self, text: str, limit: int) -> str:
        """The longest start of `text`, cut after a word, that keeps the answer within `limit`."""
        words = re.findall(r"\s*\S+", text)
        low, high = 0, len(words)
        while low < high:  # the most words that fit, by bisection on the token count
            mid = (low + high + 1) // 2
            if self.count(self.answer.text + "".join(words[:mid])) <= limit:
                low = mid
            else:
                high = mid - 1
        return "".join(words[:low])
