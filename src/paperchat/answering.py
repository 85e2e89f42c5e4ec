"""Hits -> prompt -> LLM -> checked citations -> Answer (or an extractive answer, no LLM).

`Answerer.stream` is the one path: it yields the retrieved papers, then the answer sentence
by sentence, each already citation-checked, then the finished `Answer`. `answer` simply
drains it, so streamed, API and CLI answers carry the same citations.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from paperchat.citations import (
    CheckedSentence,
    CitationChecker,
    SentenceBuffer,
    split_markers,
    split_sentences,
    with_markers,
)
from paperchat.embedding import Embedder
from paperchat.errors import BadQuestionError
from paperchat.llm import ChatLLM, ContextOverflowError
from paperchat.prompts import ABSTAIN_PHRASE, PromptSet, Source
from paperchat.records import Answer, Citation, Hit, Turn
from paperchat.retrieval import Retriever
from paperchat.settings import EXTRACTIVE, AnswerSettings, LLMSettings

log = logging.getLogger(__name__)

EXTRACTIVE_SENTENCES = 3
# Words that make a follow-up depend on the conversation ("how big is it?").
_DEPENDENT = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|the (paper|method|model|approach"
    r"|work|authors|dataset|technique))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Retrieved:
    hits: list[Hit]


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Done:
    answer: Answer


AnswerEvent = Retrieved | Delta | Done


def format_sources(citations: Sequence[Citation]) -> str:
    """The short "Sources" list appended to answers for plain-text clients."""
    if not citations:
        return ""
    lines = [f"[{c.n}] {c.title}" + (f" ({c.url})" if c.url else "") for c in citations]
    return "Sources:\n" + "\n".join(lines)


class Answerer:
    """Answers questions about the collection, citing the papers it used."""

    def __init__(
        self,
        retriever: Retriever,
        embedder: Embedder,
        prompts: PromptSet,
        llm: ChatLLM | None,
        settings: AnswerSettings,
        llm_settings: LLMSettings,
    ) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.prompts = prompts
        self.llm = llm
        self.settings = settings
        self.llm_settings = llm_settings

    @property
    def backend(self) -> str:
        return self.llm.name if self.llm else EXTRACTIVE

    # -- public ------------------------------------------------------------------------------

    def answer(
        self,
        question: str,
        history: Sequence[Turn] = (),
        *,
        k: int | None = None,
        mode: str | None = None,
    ) -> Answer:
        for event in self.stream(question, history, k=k, mode=mode):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("stream ended without an answer")

    def stream(
        self,
        question: str,
        history: Sequence[Turn] = (),
        *,
        k: int | None = None,
        mode: str | None = None,
    ) -> Iterator[AnswerEvent]:
        start = time.perf_counter()
        question = self.validate(question)
        standalone = self.condense(question, history)
        hits = self.retriever.search(standalone, k=k, mode=mode)
        timings = {"retrieve": time.perf_counter() - start}
        yield Retrieved(hits)
        answer = Answer(text="", hits=hits, question=standalone, timings=timings)
        if self._off_topic(hits):
            yield from self._abstain(answer)
        else:
            yield from self._generate(answer)
        answer.timings["total"] = time.perf_counter() - start
        yield Done(answer)

    # -- steps -------------------------------------------------------------------------------

    def validate(self, question: str) -> str:
        question = " ".join(question.split())
        if not question:
            raise BadQuestionError("The question is empty; ask something about the papers.")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise BadQuestionError(
                f"The question has {len(question)} characters; the limit is {limit} "
                "(PAPERCHAT_ANSWER_MAX_QUESTION_CHARS). Shorten it."
            )
        return question

    def condense(self, question: str, history: Sequence[Turn]) -> str:
        """A standalone question for retrieval, using the conversation when it is needed."""
        turns = [t for t in history if t.role in ("user", "assistant")]
        turns = turns[-self.settings.history_turns :] if self.settings.history_turns else []
        if not turns or not _DEPENDENT.search(question):
            return question
        if self._condense_by_llm():
            rewritten = self._condense_with_llm(question, turns)
            if rewritten:
                return rewritten
        return _condense_heuristic(question, turns)

    def _condense_by_llm(self) -> bool:
        mode = self.settings.condense
        if self.llm is None or mode == "heuristic":
            return False
        return mode == "llm" or self.llm.name == "vllm"

    def _condense_with_llm(self, question: str, turns: Sequence[Turn]) -> str | None:
        assert self.llm is not None
        history = "\n".join(f"{t.role}: {t.content[:600]}" for t in turns)
        prompt = self.prompts.condense(history, question)
        text = self.llm.generate(
            [{"role": "user", "content": prompt}], max_tokens=64, temperature=0.0
        ).text.strip()
        first = text.splitlines()[0].strip() if text else ""
        return first if 3 <= len(first.split()) <= 60 else None

    def _off_topic(self, hits: Sequence[Hit]) -> bool:
        if not hits:
            return True
        best = max((h.relevance for h in hits if h.relevance is not None), default=None)
        return best is not None and best < self.settings.abstain_threshold

    def _abstain(self, answer: Answer) -> Iterator[AnswerEvent]:
        answer.abstained = True
        answer.text = self.prompts.abstain(answer.hits[:3])
        answer.timings.setdefault("generate", 0.0)
        yield Delta(answer.text)

    def _sources(self, hits: Sequence[Hit], count: int) -> list[Source]:
        return [
            Source(n=i, hit=h, passage=" ".join(dict.fromkeys(h.chunks or (h.text,))))
            for i, h in enumerate(hits[:count], start=1)
        ]

    def _generate(self, answer: Answer) -> Iterator[AnswerEvent]:
        started = time.perf_counter()
        sources = self._sources(answer.hits, self.settings.sources)
        if self.llm is None:
            checked = self._extractive(answer.question, sources)
        else:
            checked = self._from_llm(answer, sources)
        cited: dict[int, Source] = {s.n: s for s in sources}
        used: list[int] = []
        for sentence in checked:
            answer.invalid_markers.extend(sentence.invalid)
            if not sentence.supported:
                answer.unsupported.append(sentence.text)
            used.extend(n for n in sentence.cited if n not in used)
            yield Delta((" " if answer.text else "") + sentence.text)
            answer.text += (" " if answer.text else "") + sentence.text
        answer.timings["generate"] = time.perf_counter() - started
        if ABSTAIN_PHRASE.lower().rstrip(".") in answer.text.lower():
            yield from self._model_abstained(answer)
            return
        answer.citations = [_citation(cited[n]) for n in sorted(used)]

    def _model_abstained(self, answer: Answer) -> Iterator[AnswerEvent]:
        answer.abstained = True
        tail = self.prompts.abstain(answer.hits[:3]).removeprefix(ABSTAIN_PHRASE).strip()
        answer.text += "\n" + tail
        yield Delta("\n" + tail)

    def _from_llm(self, answer: Answer, sources: list[Source]) -> Iterator[CheckedSentence]:
        """Stream the model's answer sentence by sentence, fitting the sources to its context."""
        assert self.llm is not None
        sources = self._fit(answer.question, sources)
        while True:
            checker = CitationChecker(self.embedder, sources, self.settings.support_threshold)
            buffer = SentenceBuffer()
            produced = False
            try:
                for delta in self.llm.stream(
                    self._messages(answer.question, sources),
                    max_tokens=self.llm_settings.max_tokens,
                    temperature=self.llm_settings.temperature,
                ):
                    answer.usage["completion_tokens"] = answer.usage.get("completion_tokens", 0) + 1
                    for sentence in buffer.feed(delta):
                        produced = True
                        yield checker.check(sentence)
                for sentence in buffer.flush():
                    yield checker.check(sentence)
                return
            except ContextOverflowError:
                # The server's tokenizer disagreed with our estimate: fewer sources, same answer.
                if produced or len(sources) <= 1:
                    raise
                log.warning("context overflow with %d sources; retrying with fewer", len(sources))
                sources = sources[:-1]

    def _messages(self, question: str, sources: Sequence[Source]) -> list[dict[str, str]]:
        # The long shared system prompt goes first so vLLM's prefix cache reuses it.
        return [
            {"role": "system", "content": self.prompts.system()},
            {"role": "user", "content": self.prompts.answer(sources, question)},
        ]

    def _fit(self, question: str, sources: list[Source]) -> list[Source]:
        """Drop the weakest sources, then shorten passages, until the prompt fits."""
        assert self.llm is not None
        budget = self.llm.context_tokens - self.llm_settings.max_tokens - 16
        fitted = list(sources)
        while fitted and self.llm.count_message_tokens(self._messages(question, fitted)) > budget:
            if len(fitted) > 1:
                fitted.pop()
                continue
            only = fitted[0]
            words = only.passage.split()
            if len(words) < 20:
                break
            fitted[0] = Source(only.n, only.hit, " ".join(words[: len(words) * 2 // 3]))
        return fitted

    def _extractive(self, question: str, sources: list[Source]) -> Iterator[CheckedSentence]:
        """The best-matching abstract sentences, each citing its paper: faithful by design."""
        candidates = [(s, sent) for s in sources for sent in split_sentences(s.passage)]
        if not candidates:
            return
        vectors = self.embedder.embed([sent for _, sent in candidates])
        scores = vectors @ self.embedder.embed_query(question)
        ranked = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))
        chosen = sorted(ranked[:EXTRACTIVE_SENTENCES], key=lambda i: (candidates[i][0].n, i))
        introduced: set[int] = set()
        for i in chosen:
            source, sentence = candidates[i]
            claim, _ = split_markers(sentence)
            if source.n in introduced:
                text = with_markers(claim, [source.n])
            else:
                introduced.add(source.n)
                text = f'According to "{source.hit.title}" [{source.n}], {_lower_first(claim)}'
            yield CheckedSentence(text=text, cited=[source.n])


def _lower_first(sentence: str) -> str:
    # Keep acronyms ("BERT ...") as written; only a plain capitalised word is lowered.
    first = sentence.split(" ", 1)[0]
    if first[:1].isupper() and first[1:].islower():
        return sentence[:1].lower() + sentence[1:]
    return sentence


def _citation(source: Source) -> Citation:
    return Citation(
        n=source.n,
        paper_id=source.hit.paper_id,
        title=source.hit.title,
        url=source.hit.url,
        passage=source.passage,
    )


def _condense_heuristic(question: str, turns: Sequence[Turn]) -> str:
    """Append what the conversation was about: the last question and the paper it cited."""
    last_user = next((t.content for t in reversed(turns) if t.role == "user"), "")
    last_answer = next((t.content for t in reversed(turns) if t.role == "assistant"), "")
    cited = re.search(r"^\[1\]\s*(.+)$", last_answer, re.MULTILINE)
    quoted = re.search(r"\"([^\"]{8,200})\"", last_answer)
    topic = cited.group(1) if cited else quoted.group(1) if quoted else last_answer[:200]
    return " ".join(f"{question} {last_user} {topic}".split())
