"""Hits -> prompt -> LLM -> checked citations -> Answer (or an extractive answer, no LLM).

`Answerer.stream` is the one path: it yields the retrieved papers, then the answer sentence
by sentence, each already citation-checked, then the finished `Answer`. `answer` simply
drains it, so streamed, API and CLI answers carry the same citations: the deltas join to
exactly `Answer.text`, and every marker in that text names one of `Answer.citations`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from functools import cache, partial

from paperchat.abstention import (
    called_missing,
    compared_missing,
    introducing,
    off_topic,
    origin_asked,
    origin_missing,
    ranks_papers,
    sentence_relevance,
    tentative,
    unheld_name,
    unused_name,
)
from paperchat.asked_dates import asked_dates
from paperchat.bibliography import (
    asked,
    author_filter_names,
    author_named,
    by_author_sentence,
    record_sentence,
)
from paperchat.chunking import count_tokens as cl100k_tokens
from paperchat.citations import (
    CheckedSentence,
    CitationChecker,
    Repeats,
    SentenceBuffer,
    split_markers,
)
from paperchat.collection import collection_stats, title_phrases
from paperchat.conversation import ConversationReader, Reading, format_sources
from paperchat.drafting import Cut, Delta, Draft, Limits, Partial
from paperchat.embedding import Embedder
from paperchat.errors import BadQuestionError, IndexNotReadyError
from paperchat.extractive import (
    ExtractiveAnswer,
    abstract_sentence,
    asked_count,
    asks_abstract,
    asks_code,
    code_sentence,
    compares,
)
from paperchat.index import Filters
from paperchat.llm import ChatLLM, ContextOverflowError, Message
from paperchat.names import asked_names, normalise
from paperchat.passages import merge_chunks
from paperchat.prompts import ABSTAIN_PHRASE, TENTATIVE_NOTE, PromptSet, Source
from paperchat.records import Answer, Citation, Hit, Turn
from paperchat.replies import kind_of, reply
from paperchat.retrieval import Retriever, distinctive_terms, used_by_asked
from paperchat.settings import EXTRACTIVE, AnswerSettings, LLMSettings

log = logging.getLogger(__name__)

__all__ = [
    "EXTRACTIVE",
    "AnswerEvent",
    "Answerer",
    "Delta",
    "Done",
    "Limits",
    "Retrieved",
    "format_sources",
]

MIN_PASSAGE_WORDS = 20  # a source is never shortened below this to fit a small context
PROMPT_SLACK_TOKENS = 16  # our count and the server's may differ by a few template tokens
CONDENSE_MAX_TOKENS = 64
MAX_AUTHOR_PAPERS = 10  # papers an author lookup lists; more are counted
# A label pasted with a question ("Q: Which papers ...?"): no part of what it asks.
_QUESTION_LABEL = re.compile(r"^(?:q|question)\s*[:.)]\s*(?=\S)", re.IGNORECASE)
_REWRITE_LABEL = re.compile(r"^(standalone|rewritten)?\s*question\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Retrieved:
    hits: list[Hit]


@dataclass(frozen=True, slots=True)
class Done:
    answer: Answer


AnswerEvent = Retrieved | Delta | Done


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    """How one question is answered beyond its text: how many papers and which retrieval
    mode (None: the settings'), the filters every retrieval keeps to, generation limits."""

    k: int | None = None
    mode: str | None = None
    filters: Filters | None = None
    limits: Limits | None = None


DEFAULTS = AnswerOptions()


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
        self.reader = ConversationReader(retriever, settings)

    @property
    def backend(self) -> str:
        return self.llm.name if self.llm else EXTRACTIVE

    # -- public ------------------------------------------------------------------------------

    def answer(
        self, question: str, history: Sequence[Turn] = (), options: AnswerOptions = DEFAULTS
    ) -> Answer:
        for event in self.stream(question, history, options):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("stream ended without an answer")

    def stream(
        self, question: str, history: Sequence[Turn] = (), options: AnswerOptions = DEFAULTS
    ) -> Iterator[AnswerEvent]:
        """Retrieved, then Deltas that join to the answer text, then Done."""
        start = time.perf_counter()
        question = self.validate(question)
        if kind := kind_of(question) or self._vague(question, history, options):
            # "hi", "How many papers are in the collection?", a first "what is it?"
            yield from self._reply(kind, question, start, options)
            return
        if author := author_named(question):  # "Papers by Kevin Clark"
            yield from self._by_author(author, question, start, options)
            return
        dates = None if _dated(options.filters) else asked_dates(question)
        if dates:  # "Which papers from 2024 study RAG?": a date filter, as --since/--until
            question = dates.question
            options = replace(options, filters=dates.filters(options.filters))
        read = self.read(question, history, options)
        # The retrieved papers' whole abstracts, fetched once, when a rule reads them.
        whole = cache(partial(self.retriever.whole_papers, read.question, read.hits))
        reading = self._introducer_first(read, whole)
        hits = reading.hits
        timings = {"retrieve": time.perf_counter() - start}
        yield Retrieved(hits)
        answer = Answer(text="", hits=hits, question=reading.question, timings=timings)
        limits = options.limits or Limits()
        draft = Draft(answer, start, self.count_tokens, limits, reading=reading)
        try:
            if dates:
                yield draft.write(f"Only papers dated {dates.span} were searched.")
            off, unsure = self._judge(reading)
            reason = self._lacking(reading, off, whole)
            if off or reason:
                if dates and not hits:
                    reason = f"It holds no paper dated {dates.span} that matches it."
                yield from self._abstain(draft, reason)
            else:
                answer.tentative = unsure
                yield from self._unheld_sides(draft, reading)
                yield from self._generate(draft)
        except Cut as cut:
            if cut.delta is not None:
                yield cut.delta
            log.info("answer ended early (%s); the model stopped", answer.finish_reason)
        except GeneratorExit:  # the reader closed the stream (Stop, a client that went away)
            log.info("answer abandoned by its reader after %d characters", len(answer.text))
            raise
        self._finish(draft)
        answer.timings["total"] = time.perf_counter() - start
        yield Done(answer)

    @staticmethod
    def _vague(question: str, history: Sequence[Turn], options: AnswerOptions) -> str | None:
        """ "vague" for a first message with no word to search for ("what is it?", "tell me
        more"): with nothing before it, there is no paper it could mean. Later in a
        conversation the same words are a follow-up; under a filter, about the papers left."""
        if history or options.filters or distinctive_terms(question) or asked_names(question):
            return None
        return "vague"

    def _reply(
        self, kind: str, question: str, start: float, options: AnswerOptions
    ) -> Iterator[AnswerEvent]:
        """A message that asks nothing of the papers, answered from the collection's counts."""
        index = self.retriever.index
        stats = collection_stats(index)
        if not stats.papers:
            raise IndexNotReadyError(index.empty_hint())
        yield Retrieved([])
        phrases = title_phrases(index) if kind == "contents" else ()
        draft = self._draft(question, [], start, options)
        yield from self._whole(draft, CheckedSentence(reply(kind, stats, phrases)))

    def _by_author(
        self, author: str, question: str, start: float, options: AnswerOptions
    ) -> Iterator[AnswerEvent]:
        """The papers whose records name the author, cited; or saying that none does."""
        index = self.retriever.index
        wanted = Filters(authors=author_filter_names(author))
        if options.filters:
            wanted = replace(options.filters, authors=wanted.authors)
        payloads, _ = index.heads(MAX_AUTHOR_PAPERS + 1, filters=wanted)
        found = len(payloads)
        hits = (
            self.retriever.search(author, k=found, filters=wanted)[:MAX_AUTHOR_PAPERS]
            if found
            else []
        )
        yield Retrieved(hits)
        draft = self._draft(question, hits, start, options)
        draft.sources = self._sources(hits, len(hits))
        recorded = found > 0 or bool(index.facet("author_keys", 1))
        text = by_author_sentence(author, hits, found > MAX_AUTHOR_PAPERS, recorded)
        yield from self._whole(draft, CheckedSentence(text, cited=[s.n for s in draft.sources]))

    def _draft(self, question: str, hits: list[Hit], start: float, options: AnswerOptions) -> Draft:
        timings = {"retrieve": time.perf_counter() - start}
        answer = Answer(text="", hits=hits, question=question, timings=timings)
        return Draft(answer, start, self.count_tokens, options.limits or Limits())

    def _whole(self, draft: Draft, sentence: CheckedSentence) -> Iterator[AnswerEvent]:
        """An answer of one sentence known whole before it is written (no retrieval or model
        writes it): written, finished, done."""
        try:
            yield from draft.add(sentence)
        except Cut as cut:
            if cut.delta is not None:
                yield cut.delta
        self._finish(draft)
        draft.answer.timings["total"] = time.perf_counter() - draft.start
        yield Done(draft.answer)

    def count_tokens(self, text: str) -> int:
        """Tokens with the answering model's tokenizer; cl100k for the extractive backend."""
        return self.llm.count_tokens(text) if self.llm else cl100k_tokens(text)

    def _finish(self, draft: Draft) -> None:
        """Citations of the markers the text really holds (a cut answer may lose some), and
        token usage counted the same way for every backend."""
        answer = draft.answer
        by_n = {s.n: s for s in draft.sources}
        _, in_text = split_markers(answer.text)
        answer.citations = [
            _citation(by_n[n]) for n in sorted(draft.cited) if n in in_text and n in by_n
        ]
        answer.timings.setdefault("generate", 0.0)
        if not answer.usage:  # the extractive answer read the question and the sources
            read = [answer.question, *(s.passage for s in draft.sources)]
            answer.usage = {"prompt_tokens": sum(self.count_tokens(t) for t in read)}
        answer.usage["completion_tokens"] = self.count_tokens(answer.text)

    # -- steps -------------------------------------------------------------------------------

    def validate(self, question: str) -> str:
        # Its "Q" would count as a term no paper holds.
        question = _QUESTION_LABEL.sub("", " ".join(question.split()))
        if not question:
            raise BadQuestionError("The question is empty; ask something about the papers.")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise BadQuestionError(
                f"The question has {len(question)} characters; the limit is {limit} "
                "(PAPERCHAT_ANSWER_MAX_QUESTION_CHARS). Shorten it."
            )
        return question

    def read(
        self, question: str, history: Sequence[Turn] = (), options: AnswerOptions = DEFAULTS
    ) -> Reading:
        """What the question is about in its conversation, with the papers retrieved for it.

        Decided from retrieval evidence (paperchat.conversation); a capable model's rewrite
        of a follow-up is only taken when retrieval for it agrees. `filters` restrict every
        retrieval.
        """
        rewrite = self._condense_with_llm if self._condense_by_llm() else None
        k = options.k
        if k is None and (asked := asked_count(question)):  # "Give me 8 papers on ..."
            k = max(asked, self.retriever.settings.k)
        return self.reader.read(
            question,
            history,
            k=k,
            mode=options.mode,
            rewrite=rewrite,
            filters=options.filters,
        )

    def _introducer_first(self, reading: Reading, whole: Callable[[], list[Hit]]) -> Reading:
        """ "Which paper proposes LoRA?": the paper introducing the name leads the answer, not
        a closer-ranked one that only uses it (`abstention.introducing`)."""
        if not origin_asked(reading.question) or len(reading.hits) < 2:
            return reading
        first = next(iter(introducing(reading.question, whole())), None)
        if first is None or first.paper_id == reading.hits[0].paper_id:
            return reading
        hits = sorted(reading.hits, key=lambda h: h.paper_id != first.paper_id)
        return replace(reading, hits=hits)

    def _condense_by_llm(self) -> bool:
        mode = self.settings.condense
        if self.llm is None or mode == "heuristic":
            return False
        return mode == "llm" or self.llm.name == "vllm"

    def _condense_with_llm(self, question: str, turns: Sequence[Turn]) -> str | None:
        assert self.llm is not None
        turns = turns[-self.settings.history_turns :] if self.settings.history_turns else []
        history = "\n".join(f"{t.role}: {t.content[:600]}" for t in turns)
        prompt = self.prompts.condense(history, question)
        text = self.llm.generate(
            [{"role": "user", "content": prompt}],
            max_tokens=CONDENSE_MAX_TOKENS,
            temperature=0.0,
        ).text.strip()
        first = text.splitlines()[0].strip() if text else ""
        first = _REWRITE_LABEL.sub("", first).strip().strip("\"'")
        # A rewrite that is not a question of sensible length is worse than the heuristic.
        return first if 3 <= len(first.split()) <= 60 else None

    def _judge(self, reading: Reading) -> tuple[bool, bool]:
        """(off topic, tentative) for the reading's hits; the closest sentence's similarity is
        embedded once, and only when a rule asks for it."""
        sentence = cache(lambda: sentence_relevance(self.embedder, reading.question, reading.hits))
        if off_topic(reading.hits, self.settings, sentence):
            return True, False
        # "Which paper has the largest model?": the closest papers, not the one that wins.
        ranked = ranks_papers(reading.question) and not any(h.named for h in reading.hits)
        return False, ranked or tentative(reading.hits, self.settings, sentence)

    def _lacking(self, reading: Reading, off: bool, whole: Callable[[], list[Hit]]) -> str:
        """What the collection lacks that the question asks for, read in the whole abstracts:
        papers using X ("Which papers use UNITER?", `abstention.unused_name`, said of a
        question declined as `off` topic too), the paper introducing X ("Which paper
        introduced BERT?", `abstention.origin_missing`), the paper called X ("the Stable
        Diffusion 3 paper", `abstention.called_missing`) or what the paper a question names
        says of X ("What MMLU score does Medical mT5 get?", `abstention.unheld_name`); ""
        when it lacks none. `whole` gives the hits' whole abstracts, fetched on its first
        call."""
        question = reading.question
        used = used_by_asked(question) is not None and reading.hits
        if used and (name := unused_name(question, whole())):
            if self.retriever.names_a_paper(normalise(name)):
                return f"Besides {name}'s own paper, it holds none that mentions {name}."
            return f"It holds no paper that mentions {name}."
        if off:
            return ""
        if called := called_missing(question, reading.hits):
            return f"It holds no paper called {called}."
        if origin_asked(question) and reading.hits:
            origin = origin_missing(question, whole())
            return f"It holds no paper that introduces {origin}." if origin else ""
        # Read in the whole abstracts only when the retrieved chunks lack a name the question
        # uses beside the paper it names.
        if any(h.named and h.lacks_names for h in reading.hits):
            known = self.retriever.names_a_paper
            if unheld := unheld_name(question, whole(), known):
                return f"The abstract of the paper asked about does not mention {unheld}."
        return ""

    def _unheld_sides(self, draft: Draft, reading: Reading) -> Iterator[AnswerEvent]:
        """Before the answer, the names a comparison sets beside its papers that no paper here
        carries and its papers do not write ("How does CLIP differ from ALIGN?": "The
        collection holds no paper called ALIGN."), as the answer covers the papers it holds
        only (`abstention.compared_missing`)."""
        named = [h for h in reading.hits if h.named]
        if not named or not compares(reading.turn):
            return
        whole = self.retriever.whole_papers(reading.question, named)
        if missing := compared_missing(reading.turn, whole, self.retriever.names_a_paper):
            said = f"The collection holds no paper called {' or '.join(missing)}."
            yield draft.write((" " if draft.answer.text else "") + said)

    def _abstain(self, draft: Draft, reason: str = "") -> Iterator[AnswerEvent]:
        """The decline, listing the closest papers; `reason` says what the collection lacks
        ("It holds no paper that introduces BERT.")."""
        draft.answer.abstained = True
        draft.answer.timings.setdefault("generate", 0.0)
        # With no paper retrieved at all (a filter no paper passes), there are none to list.
        hits = draft.answer.hits[:3]
        text = self.prompts.abstain(hits) if hits else ABSTAIN_PHRASE
        if reason:
            text = text.replace(ABSTAIN_PHRASE, f"{ABSTAIN_PHRASE} {reason}", 1)
        yield draft.write((" " if draft.answer.text else "") + text)

    def _sources(self, hits: Sequence[Hit], count: int) -> list[Source]:
        return [
            Source(n=i, hit=h, passage=merge_chunks(h.chunks or (h.text,)))
            for i, h in enumerate(hits[:count], start=1)
        ]

    def _generate(self, draft: Draft) -> Iterator[AnswerEvent]:
        started = time.perf_counter()
        count = max(self.settings.sources, asked_count(draft.answer.question) or 0)
        hits = draft.answer.hits[:count]
        if self.llm is None:  # quoted sentences may come from anywhere in an abstract
            hits = self.retriever.whole_papers(draft.answer.question, hits)
        sources = self._sources(hits, count)
        draft.sources = sources
        sentences = self._sentences(draft, sources)
        noted = not draft.answer.tentative
        try:
            for sentence in sentences:
                partial = isinstance(sentence, Partial)
                shows = bool(sentence.text) if partial else not sentence.abstains
                if not noted and shows:
                    # Before the first words of the answer (a streamed start that could still
                    # become the abstain phrase shows none): a model that abstains instead gets
                    # the plain abstention, not the note and then the abstention.
                    noted = True
                    yield draft.write((" " if draft.answer.text else "") + TENTATIVE_NOTE)
                if partial:
                    yield from draft.partial(sentence.text)
                    continue
                if sentence.abstains:
                    draft.drop_partial()
                if sentence.abstains and not draft.cited:
                    yield from self._model_abstained(draft)
                    break
                if sentence.abstains:
                    # Said after a cited answer, the phrase would contradict it: left out.
                    log.info("dropped the abstain phrase after a cited answer")
                    continue
                yield from draft.add(sentence)
            if self.llm is not None and not draft.cited and not draft.answer.abstained:
                # Small models often write nothing a source supports. The extractive answer
                # is the floor: the reply still says what the papers say, with citations.
                log.info("the model's answer cites no source; adding the extractive answer")
                for sentence in self._extractive(draft, sources):
                    yield from draft.add(sentence)
        finally:
            sentences.close()  # stops the model when the answer ended early
            draft.answer.timings["generate"] = time.perf_counter() - started

    def _model_abstained(self, draft: Draft) -> Iterator[AnswerEvent]:
        """The model says the sources do not answer: the standard abstention, closest papers."""
        answer = draft.answer
        answer.abstained = True
        answer.unsupported.clear()
        yield draft.write(("\n" if answer.text else "") + self.prompts.abstain(answer.hits[:3]))
        draft.cited.clear()

    def _sentences(
        self, draft: Draft, sources: list[Source]
    ) -> Iterator[CheckedSentence | Partial]:
        question = draft.answer.question
        # "What is the abstract of ELECTRA?" (the abstract itself), "Where can I find the code
        # for BridgeTower?" (the links it gives): read in the whole abstract, on every backend.
        from_abstract = (
            abstract_sentence
            if asks_abstract(question)
            else code_sentence
            if asks_code(question)
            else None
        )
        if sources and sources[0].hit.named and from_abstract:
            (whole,) = self.retriever.whole_papers(question, [sources[0].hit])
            abstract = merge_chunks(whole.chunks or (whole.text,))
            lead = sources[0].n
            yield CheckedSentence(from_abstract(whole.title, abstract, lead), cited=[lead])
            return
        if sources and (what := asked(question)):
            # Who wrote it, when, where: the record answers, or the answer says it does not.
            lead = sources[0]
            yield CheckedSentence(record_sentence(what, lead.hit, lead.n), cited=[lead.n])
        if self.llm is None:
            yield from self._extractive(draft, sources)
            return
        fitted = self._fit(draft.answer.question, sources)
        if fitted is None:
            log.warning(
                "the model's context (%d tokens) holds no source next to the instructions; "
                "answering extractively (raise PAPERCHAT_LLM_CONTEXT_TOKENS or lower "
                "PAPERCHAT_LLM_MAX_TOKENS)",
                self.llm.context_tokens,
            )
            yield from self._extractive(draft, sources)
            return
        yield from self._from_llm(draft, fitted)

    def _from_llm(self, draft: Draft, sources: list[Source]) -> Iterator[CheckedSentence | Partial]:
        """Stream the model's answer sentence by sentence; on overflow, retry with fewer."""
        while True:
            try:
                yield from self._stream_llm(draft, sources)
                return
            except ContextOverflowError:
                # The server's tokenizer disagreed with our estimate: fewer sources, same answer.
                if draft.answer.text:
                    raise  # part of the answer is out: a retry would repeat it
                if len(sources) <= 1:
                    log.warning("context overflow with one source; answering extractively")
                    yield from self._extractive(draft, sources)
                    return
                log.warning("context overflow with %d sources; retrying with fewer", len(sources))
                sources = sources[:-1]

    def _stream_llm(
        self, draft: Draft, sources: list[Source]
    ) -> Iterator[CheckedSentence | Partial]:
        """Checked sentences, and between them the safe start of the one being written."""
        assert self.llm is not None
        checker = CitationChecker(
            self.embedder,
            sources,
            self.settings.support_threshold,
            question=draft.answer.question,
        )
        buffer = SentenceBuffer()
        repeats = Repeats()
        instructions = draft.limits.instructions
        messages = self._messages(draft.answer.question, sources, instructions)
        draft.answer.usage = {"prompt_tokens": self.llm.count_message_tokens(messages)}
        deltas = self.llm.stream(
            messages, max_tokens=self._max_tokens(draft), temperature=self.llm_settings.temperature
        )
        with closing(deltas):  # closing stops the model at once (cancel, token limit)
            for delta in deltas:
                if draft.limits.cancelled:
                    draft.answer.finish_reason = "cancelled"
                    raise Cut(None)
                draft.answer.timings.setdefault("first_token", time.perf_counter() - draft.start)
                yield from (checker.check(s) for s in buffer.feed(delta) if not repeats.again(s))
                start = buffer.streamable()
                if not repeats.may_repeat(start):
                    yield Partial(start)
        yield from (checker.check(s) for s in buffer.flush() if not repeats.again(s))

    def _max_tokens(self, draft: Draft) -> int:
        limit = draft.limits.max_tokens
        # A little headroom: the markers the check moves may change the count slightly.
        cap = self.llm_settings.max_tokens
        return min(cap, limit + PROMPT_SLACK_TOKENS) if limit else cap

    def _messages(
        self, question: str, sources: Sequence[Source], instructions: str = ""
    ) -> list[Message]:
        # The long shared system prompt goes first so vLLM's prefix cache reuses it; a
        # client's instructions follow the rules, so they can add to them but not replace them.
        system = self.prompts.system()
        if instructions.strip():
            system += "\n\n" + self.prompts.instructions(instructions)
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": self.prompts.answer(sources, question)},
        ]

    def _fit(self, question: str, sources: list[Source]) -> list[Source] | None:
        """Drop the weakest sources, then shorten the last passage, until the prompt fits.

        None when not even a shortened source fits next to the instructions.
        """
        assert self.llm is not None
        budget = self.llm.context_tokens - self.llm_settings.max_tokens - PROMPT_SLACK_TOKENS
        fitted = list(sources)
        while self.llm.count_message_tokens(self._messages(question, fitted)) > budget:
            if len(fitted) > 1:
                fitted.pop()
                continue
            words = fitted[0].passage.split()
            if len(words) <= MIN_PASSAGE_WORDS:
                return None
            keep = max(MIN_PASSAGE_WORDS, len(words) * 2 // 3)
            fitted[0] = Source(fitted[0].n, fitted[0].hit, " ".join(words[:keep]))
        if len(fitted) < len(sources) or fitted[0] != sources[0]:
            log.info("trimmed the sources to %d to fit the model's context", len(fitted))
        return fitted

    def _extractive(self, draft: Draft, sources: list[Source]) -> Iterator[CheckedSentence]:
        """The sentences that answer the question, each citing its paper: faithful by design."""
        # Scored for the user's own words (a follow-up's, not its rewrite), plus the terms the
        # conversation lends a comparison that names no aspect.
        reading = draft.reading
        assert reading is not None  # every draft of a question carries its reading
        composer = ExtractiveAnswer(self.embedder)
        yield from composer.compose(
            reading.turn, sources, reading.context_terms, tentative=draft.answer.tentative
        )


def _dated(filters: Filters | None) -> bool:
    """The request already keeps to dates (`--since`/`--until`, the UI's date filter)."""
    return bool(filters and (filters.date_from or filters.date_to))


def _citation(source: Source) -> Citation:
    return Citation(
        n=source.n,
        paper_id=source.hit.paper_id,
        title=source.hit.title,
        url=source.hit.url,
        passage=source.passage,
        urls=source.hit.urls,
        relevance=source.hit.relevance,
        page=source.hit.page,
    )
