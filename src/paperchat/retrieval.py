"""Question -> Hits: hybrid (dense + BM25 fused by RRF in Qdrant), dense or sparse.

Each hit also carries two scale-free signals the answerer abstains on: `relevance` (dense
cosine of its best chunk) and `coverage` (how much of the question's distinctive vocabulary
its title and best chunks contain).

A question that calls a paper by its name ("What is ELECTRA's pre-training task?") gets that
paper first, marked `named`: the name is matched exactly against the names stored with each
paper (paperchat.names), so "ELECTRA" never picks "DeBERTaV3: ... ELECTRA-Style ...". Named
papers come first in their fused order; the other hits follow in theirs.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from functools import cache, lru_cache
from typing import Any

from paperchat.embedding import Embedder, sparse_query, term_id, words
from paperchat.errors import BadQuestionError, ConfigError, IndexNotReadyError
from paperchat.index import Filters, Mode, PaperIndex, QueryVectors
from paperchat.names import (
    MIN_TYPO_CHARS,
    as_word,
    asked_names,
    compared_words,
    distinctive_names,
    first_mention,
    holds_name,
    inner_names,
    mentioned_apart,
    mentions,
    misspells,
    normalise,
    paper_names,
    plain_words,
    question_names,
    quotes_title,
    recased,
    releases,
    text_names,
    title_called,
    whole_names,
    writes_name,
    writes_title_name,
)
from paperchat.records import Hit
from paperchat.settings import RETRIEVAL_MODES, RetrievalSettings

log = logging.getLogger(__name__)
# Words of how a question is asked, or that any abstract uses: they say nothing about whether
# the collection covers the topic, so coverage ignores them.
GENERIC_WORDS = (
    "paper papers study studies work research article propose proposes present introduce "
    "describe show find argue approach method methods use uses using model models new based "
    # ... and how a question says what a paper is about: "Which paper talks about Maltese?"
    "talk talks discuss discusses deal deals mention mentions "
    # ... and that a paper makes something, as "use" says it uses it: "Which papers build
    # text-to-SQL models?" asks about text-to-SQL, not about titles saying "Building".
    "build builds "
    # ... and how a user asks the collection itself: "Does the collection have anything on
    # time series forecasting?", "Tell me about ...", "Give me an overview of ...", "How
    # many ...?".
    "collection anything something else tell know list give overview suggest many "
    # ... and the word setting two things side by side: "RealSyn vs LAION" is about RealSyn
    # and LAION, not about a title writing "In-Context vs. In-Weights".
    "vs versus"
)
# How a question asks, not what it asks about: "What does replaced token detection mean?",
# "Which paper should I read to learn about continual pre-training?", "I want to know about
# ...", "the abstract of ...", "the pros and cons of ...". Their words would be terms a paper
# must hold ("mean", "read", "learn"). Not "stand for": "What does InSerter stand for?" is
# answered by the sentence saying "stands for".
_ASKING_PHRASE = re.compile(
    r"\b(?:mean|means)\s*[?.!]*\s*$"
    r"|\b(?:should|could|can|do|would|must)\s+(?:i|we|one)\s+(?:read|cite|start\s+with)\b"
    r"|\b(?:i|we)\s+(?:want|would\s+like|need|wish|'d\s+like)\s+to\s+"
    r"(?:know|learn|read|understand)\b"
    r"|\b(?:to\s+)?learn\s+(?:more\s+)?about\b"
    r"|\b(?:the|its|their)\s+(?:full\s+|whole\s+)?abstracts?\s+(?:of|for)\b"
    # A request opening the question: "Explain UNITER", "Please summarize the GPTQ paper".
    r"|^\s*(?:please\s+)?(?:(?:can|could)\s+you\s+)?(?:briefly\s+)?"
    r"(?:explain|describe|summari[sz]e|outline)\b"
    # A need for papers: "I'm looking for good references on ...", "need refs for ...". As
    # phrases: the words alone are terms ("looks like", "referring", "recommendation").
    r"|\b(?:looking|searching)\s+for\b"
    r"|\b(?:good|great|useful|relevant)\s+(?=(?:papers|works|refs|references|literature)\b)"
    r"|\b(?:need|recommend)\s+(?=(?:\w+\s+)?(?:papers?|works?|refs|references|literature)\b)"
    r"|\b(?:refs|references|literature)\s+(?=(?:on|about|for|in)\b)"
    # "the pros and cons of X": what an answer weighs, words an abstract rarely writes.
    r"|\b(?:pros\s+and\s+cons|advantages\s+and\s+disadvantages|strengths\s+and\s+weaknesses"
    r"|benefits\s+and\s+drawbacks)\b",
    re.IGNORECASE,
)
# "CLIP-style models" asks about CLIP: the suffix says "of that kind", not a topic of its own.
# Papers asked for by what they do with a named one: "Which papers build on ELECTRA?",
# "What works compare with ALBEF?". The name after the verb is what they use, not an answer.
USING_PAPERS = (
    r"\b(?:which|what|any)\s+(?:other\s+)?(?:papers|works|studies|methods|models)\s+"
    r"(?:\w+\s+){0,2}?(?P<verb>(?:build|use|extend|improve|cite|adapt|apply|compare|fine-tune"
    r"|evaluate|follow|outperform|beat|employ|adopt|leverage|mention|reference)s?|rel(?:y|ies))"
    r"\s+(?:on\s+|upon\s+|with\s+|against\s+)?"
)
_USING_A_NAME = re.compile(USING_PAPERS, re.IGNORECASE)
# How such papers relate to the name, not what their abstracts say: "Which papers cite
# ELECTRA?" asks for abstracts writing "ELECTRA", not "cite".
_RELATING = re.compile(
    r"(?:cite|extend|follow|reference|adopt|employ|leverage)s?|rel(?:y|ies)", re.IGNORECASE
)


def used_by_asked(question: str) -> str | None:
    """What the papers a question asks for use: the rest of "Which papers use UNITER for
    ...?" after its verb; None when it asks for no papers by a name they use, a name right
    after the verb ("Which papers fine-tune models with few parameters, like SVFit?" asks for
    papers on a topic, SVFit among them)."""
    using = _USING_A_NAME.search(question)
    return _used_after(question, using) if using else None


def _used_after(question: str, using: re.Match[str]) -> str | None:
    """`used_by_asked` of a question whose using verb is found."""
    rest = question[using.end() :]
    first = re.match(r"\s*(?:the\s+|an?\s+)?([\w.+-]+)", rest)
    return rest if first and asked_names(first[1]) else None


MAX_STORED_NAMES = 100_000  # names a misspelling is compared with (a few per paper)
_KIND_SUFFIX = re.compile(r"(?<=\w)-(?:like|style|based|type|inspired)\b", re.IGNORECASE)
NAME_LOOKUP_LIMIT = 10  # papers fetched per name lookup
# A name that this many papers carry ("LLMs" in several titles) names none of them.
AMBIGUOUS_NAME_PAPERS = 3
# A name from inside a longer title prefix ("LLM" in "Aligned with LLM: ...") or one of plain
# words names its paper only when the collection's chunks rarely use its words: at most this
# share of them (or RARE_NAME_MIN_CHUNKS in a small collection). "mT5" or "TTMs" are rare,
# "LLM" or "pre-trained models" not.
RARE_NAME_SHARE = 0.02
RARE_NAME_MIN_CHUNKS = 10
# A name the question writes in capitals this long ("GRAIN") is an acronym, whatever the
# lower-case word ("grain" of "fine-grained") is.
MIN_CAPITALS = 3
# A one-word name that is not the title's own ("ViLD", coined by its abstract) is the paper's
# only while few other papers use the word: at most this share of the papers (or
# FIELD_TERM_MIN_PAPERS). "VQA" of a captioning paper's "zero-shot VQA pipeline" is used by five
# other abstracts of the shipped corpus, the field's term; "ALBEF" by one, a paper comparing
# with it.
FIELD_TERM_SHARE = 0.002
FIELD_TERM_MIN_PAPERS = 1
# (name, the paper carrying it) -> whether the name is the field's term, for one name lookup
FieldTerm = Callable[[str, str], bool]
# Stems of one word family that coverage counts as the same term: both this long, and the
# longer at most this many letters more ("molecul"/"molecular").
MIN_FAMILY_STEM = 6
MAX_FAMILY_SUFFIX = 3
MAX_ROOT_ENDING = 2  # letters after a shared root of MIN_FAMILY_STEM ("sparsi|f", "sparsi|ti")
# Fusion's second paper leads when it holds (nearly) every distinctive term of the question
# and the top paper holds this much less: "Which paper introduces Mixture-of-Denoisers?" is
# UL2's, not that of a paper on mixing with diffusion that fusion ranked first.
COVERING_LEAD = 0.9
COVERING_LEAD_GAP = 0.4
COVERING_LEAD_RANKS = 5  # the default k: fusion's top five
WHOLE_PAPER_CHUNKS = 12  # chunks fetched per paper for its whole abstract (most have 2-4)


@lru_cache(maxsize=1)
def _generic_terms() -> frozenset[str]:
    # Stemmed like the BM25 terms; built on first use, the stemmer loads lazily.
    return frozenset(words(GENERIC_WORDS))


def asked_about(question: str) -> str:
    """The question without the words of how it asks (`_ASKING_PHRASE`), of a kind suffix,
    or of how the papers it asks for relate to a name (`_RELATING`)."""
    asked = _KIND_SUFFIX.sub("", _ASKING_PHRASE.sub(" ", question))
    using = _USING_A_NAME.search(asked)
    if using and _RELATING.fullmatch(using["verb"]) and _used_after(asked, using) is not None:
        return asked[: using.start("verb")] + asked[using.end() :]
    return asked


def distinctive_terms(question: str) -> list[str]:
    """The question's stemmed content terms, without generic research words, each once."""
    generic = _generic_terms()
    asked = asked_about(question)
    return [t for t in dict.fromkeys(words(asked)) if t not in generic]


_TOKEN = re.compile(r"[\w'-]+|[^\w\s]")
MAX_ALTERNATIVES = 2  # "or"s read apart; a longer list of them is rare and multiplies readings


def readings(question: str, terms: list[str]) -> list[list[str]]:
    """The question's distinctive terms as each of its alternatives reads them.

    "Which papers quantize or sparsify large models?" asks about papers that do either: one
    reading drops "sparsify", the other "quantize". An alternative is the run of distinctive
    words next to "or" on its side, as many on each ("visual place recognition or 3D scene
    editing"; a stop word right after "or" is skipped: "at 4K or from bilingual prompts"); a
    question without "or" has one reading, all its terms.
    """
    tokens = _TOKEN.findall(asked_about(question))
    stems = [words(token) for token in tokens]
    held = set(terms)

    def run(indices: range) -> list[int]:
        found: list[int] = []
        for i in indices:
            if not stems[i] or not held.issuperset(stems[i]):
                break  # a stop word, a generic word or punctuation ends the alternative
            found.append(i)
        return found

    def only_in(span: set[int]) -> set[str]:
        elsewhere = {t for i, found in enumerate(stems) if i not in span for t in found}
        return {t for i in span for t in stems[i]} - elsewhere

    result = [terms]
    ors = [i for i, t in enumerate(tokens) if t.lower() == "or"][:MAX_ALTERNATIVES]
    for at in ors:
        start = at + 1
        if start < len(tokens) and tokens[start].isalpha() and not stems[start]:
            start += 1  # "for image captioning or for visual perception": "for" opens both
        before, after = run(range(at - 1, -1, -1)), run(range(start, len(tokens)))
        # As many words on each side: in "quantize or sparsify large models" both alternatives
        # act on "large models", which both readings keep.
        width = min(len(before), len(after))
        if not width:
            continue
        left, right = only_in(set(before[:width])), only_in(set(after[:width]))
        result = [
            [t for t in reading if t not in dropped]
            for reading in result
            for dropped in (right, left)
        ]
    return result


def titled_first(query: str, hits: list[Hit]) -> list[Hit]:
    """The hits with the one paper whose title holds all the question's distinctive terms, in
    the question's order and next to each other, first: "Tell me about speech translation" is
    "Pre-training for Speech Translation: ...", though a shorter abstract mentioning speech
    translation twice wins BM25. Not when a paper is named, the question has one term only,
    or several titles hold the phrase."""
    terms = [t for t in words(asked_about(query)) if t not in _generic_terms()]
    if len(terms) < 2 or not hits or any(h.named for h in hits):
        return hits
    phrase = " ".join(terms)
    titled = [i for i, h in enumerate(hits) if f" {phrase} " in f" {' '.join(words(h.title))} "]
    if len(titled) != 1 or titled[0] == 0:
        return hits
    at = titled[0]
    return [hits[at], *hits[:at], *hits[at + 1 :]]


def covering_first(hits: list[Hit]) -> list[Hit]:
    """The hits with the first of the top five that holds the question's terms leading, when
    the top paper holds far fewer of them (`COVERING_LEAD_GAP`); a named paper keeps the lead.
    Fusion ranks chunks by meaning and words alike; a few words a user remembers of an
    abstract ("rnns embed text") are that abstract's, though fusion may rank another paper
    first. Coverage is of the question's best reading: a paper holding one side of an "or"
    question holds it all."""
    if len(hits) < 2 or hits[0].named or hits[0].coverage is None:
        return hits
    top = hits[0].coverage
    at = next(
        (
            i
            for i, h in enumerate(hits[1:COVERING_LEAD_RANKS], 1)
            if (h.coverage or 0.0) >= COVERING_LEAD
            and (h.coverage or 0.0) - top >= COVERING_LEAD_GAP
        ),
        None,
    )
    if at is None:
        return hits
    return [hits[at], *hits[:at], *hits[at + 1 :]]


def idf(term: str, df: Mapping[int, int], chunks: int) -> float:
    """BM25 inverse document frequency, as Qdrant's IDF modifier computes it."""
    n = df.get(term_id(term), 0)
    return math.log(1 + (chunks - n + 0.5) / (n + 0.5))


def coverage(terms: list[str], weights: Mapping[str, float], text: str) -> float:
    """IDF-weighted share of the terms that occur in the text (1.0 when there are none).

    A term the collection never uses weighs most: a question built on it is off-topic.
    """
    return coverage_of_words(terms, weights, set(words(text)))


_HYPHENATED = re.compile(r"\b[A-Za-z]+(?:-[A-Za-z]+)+\b")


def held_words(text: str, question: str) -> set[str]:
    """The text's terms (`words`), with its hyphenated words closed up as well ("pre-training"
    as "pretraining") and the question's hyphenated words it holds closed up: papers and
    questions write "pre-training" and "pretraining", "multi-modal" and "multimodal", either
    way, and the stemmer keeps the two forms apart."""
    present = set(words(text))
    present.update(w for compound in _HYPHENATED.findall(text) for w in _closed(compound))
    for compound in _HYPHENATED.findall(question):
        closed = _closed(compound)
        if closed and closed <= present:
            present.update(words(compound))
    return present


def _closed(compound: str) -> set[str]:
    return set(words(compound.replace("-", "")))


def coverage_of_words(
    terms: list[str],
    weights: Mapping[str, float],
    present: set[str],
    unseen: Collection[str] = (),
) -> float:
    """`coverage` of a text already stemmed into its set of words (`words`). A term of
    `unseen` (no chunk of the collection holds it) counts in any form the text holds
    (`_holds_form`: "sparsification" in a text on "sparsity")."""
    total = sum(weights[t] for t in terms)
    if not total:
        return 1.0
    held = [t for t in terms if (_holds_form if t in unseen else _holds_term)(t, present)]
    return sum(weights[t] for t in held) / total


def _holds_term(term: str, present: set[str]) -> bool:
    """The term, or a stem of the same word family the stemmer left apart: "molecules" and
    "Molecular" ("molecul", "molecular"), "synthesize" and "synthesis" ("synthes",
    "synthesi"). A long stem that a few letters extend, not "person" and "personalis"."""
    if term in present:
        return True
    if len(term) < MIN_FAMILY_STEM:
        return False
    return any(
        len(word) >= MIN_FAMILY_STEM
        and abs(len(word) - len(term)) <= MAX_FAMILY_SUFFIX
        and (word.startswith(term) or term.startswith(word))
        for word in present
    )


def _holds_form(term: str, present: set[str]) -> bool:
    """`_holds_term`, or another form of the word: typed with one letter wrong ("transfomer"),
    or a stem the stemmer left apart that shares all but its last letters with one the paper
    holds ("sparsification" and "sparsity", "quantise" and "quantize"). A word the collection
    never uses is often such a form of one it does. `_same_root` takes in `_holds_term`'s
    word families (one stem extending the other by a few letters), so one pass does both."""
    return term in present or any(
        misspells(term, word) or _same_root(term, word) for word in present
    )


def _same_root(term: str, word: str) -> bool:
    apart = (i for i, (a, b) in enumerate(zip(term, word, strict=False)) if a != b)
    shared = next(apart, min(len(term), len(word)))
    return shared >= MIN_FAMILY_STEM and shared >= min(len(term), len(word)) - MAX_ROOT_ENDING


class Retriever:
    """Finds the papers that best match a question; results are papers, not raw chunks."""

    def __init__(self, index: PaperIndex, embedder: Embedder, settings: RetrievalSettings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self._names_known: tuple[int, frozenset[str]] = (-1, frozenset())  # (chunks, names)

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        query = " ".join(query.split())
        if not query:
            raise BadQuestionError("The query is empty; type a question about the papers.")
        mode = mode or self.settings.mode
        if mode not in RETRIEVAL_MODES:
            raise ConfigError(
                f"Unknown retrieval mode {mode!r}; allowed: {', '.join(RETRIEVAL_MODES)}."
            )
        chunks = self.index.count_chunks()
        if chunks == 0:
            raise IndexNotReadyError(self.index.empty_hint())
        k = k or self.settings.k
        vectors = self.query_vectors(query, mode, k)
        hits = self.index.query(vectors, mode, k, self.settings.chunks_per_paper, filters)
        if mode == "hybrid":
            hits = self._sparse_lead_first(hits, vectors, k, filters)
        hits = self._names_first(query, hits, vectors, mode, k, filters)
        hits = self._with_relevance(query, hits, vectors, mode, filters)
        return titled_first(query, covering_first(self._with_coverage(query, hits)))

    def query_vectors(self, query: str, mode: Mode, k: int) -> QueryVectors:
        """What the engine is asked for `query`: its vectors and the fusion settings."""
        return QueryVectors(
            dense=self.embedder.embed_query(query) if mode != "sparse" else None,
            sparse=sparse_query(_ASKING_PHRASE.sub(" ", query)) if mode != "dense" else None,
            weights=(self.settings.dense_weight, self.settings.sparse_weight),
            prefetch=max(self.settings.prefetch, k * 4),
            rrf_k=self.settings.rrf_k,
            fusion=self.settings.fusion,
        )

    def whole_papers(self, query: str, hits: list[Hit]) -> list[Hit]:
        """The hits with all their papers' chunks (best first): the whole abstracts.

        Retrieval keeps a paper's best chunks only; an answer quoting the paper may need a
        sentence from another part of its abstract.
        """
        if not hits:
            return hits
        vectors = QueryVectors(dense=self.embedder.embed_query(query))
        only = Filters(paper_ids=tuple(h.paper_id for h in hits))
        found = self.index.query(vectors, "dense", len(hits), WHOLE_PAPER_CHUNKS, only)
        chunks = {h.paper_id: h.chunks for h in found}
        return [replace(h, chunks=chunks.get(h.paper_id) or h.chunks) for h in hits]

    def _sparse_lead_first(
        self, hits: list[Hit], vectors: QueryVectors, k: int, filters: Filters | None
    ) -> list[Hit]:
        """The hits with BM25's top paper first when it scores `sparse_lead` times any other.

        Rank fusion sees ranks, not how far ahead a branch's first is: "reparameterize
        attention with additive kernels and binary codes" is ShiftAddViT's by far for BM25
        (28.9 against 8.8), but no dense top 40 holds it, and papers ranked fairly by both
        branches outvoted it to sixth place.
        """
        lead = self.settings.sparse_lead
        if not lead or not hits:
            return hits
        top = self.index.query(vectors, "sparse", 2, self.settings.chunks_per_paper, filters)
        if not top or (len(top) > 1 and top[0].score < lead * top[1].score):
            return hits
        fused = next((h for h in hits if h.paper_id == top[0].paper_id), None)
        first = fused or replace(top[0], score=hits[0].score)  # its chunks, a fused score
        return [first, *(h for h in hits if h.paper_id != first.paper_id)][:k]

    def _names_first(
        self,
        query: str,
        hits: list[Hit],
        vectors: QueryVectors,
        mode: Mode,
        k: int,
        filters: Filters | None,
    ) -> list[Hit]:
        """The papers the question names first (marked), then the rest, k in all."""
        candidates = question_names(query)
        named = self.named_papers(query, candidates, vectors, mode, filters)
        found = {h.paper_id for h in named}
        named += [h for h in hits if h.paper_id not in found and quotes_title(query, h.title)]
        called_at: dict[str, int] = {}
        if called := title_called(query, [h.title for h in hits]):
            # "Compare GLSCL, TVTS and the Banzhaf paper": the third by its title's words.
            hit = hits[called[0]]
            called_at[hit.paper_id] = called[1]
            named += [hit] if all(h.paper_id != hit.paper_id for h in named) else []
        if not named:
            # "What is Electa?": a retrieved paper's name, misspelt by a letter.
            typed = [n for n in candidates if " " not in n]
            named = [
                h
                for h in hits
                if any(misspells(t, n) for n in distinctive_names(h.title) for t in typed)
            ]
        if not named:
            named = self._misspelt_elsewhere(query, vectors, mode, filters)
        using = _USING_A_NAME.search(query)
        if using:
            # "Which papers build on ELECTRA?": ELECTRA is what they build on.
            used = [h for h in named if _first_named_at(query, h) >= using.end()]
            named = [h for h in named if h not in used]
            used_as = used_by_asked(query)
            if used_as is not None:
                hits = self._users_first(used_as, used, hits, vectors, mode, k, filters)
        if not named:
            return hits
        rank = {h.paper_id: i for i, h in enumerate(hits)}

        def order(hit: Hit) -> tuple[int, int, int]:
            # In the order the question names them ("How is ELECTRA different from DeBERTaV3?").
            at, own = _named_order(query, hit)
            return called_at.get(hit.paper_id, at), own, rank.get(hit.paper_id, len(rank))

        named.sort(key=order)
        ids = {h.paper_id for h in named}
        first = [replace(h, named=True) for h in named[:k]]
        return [*first, *(h for h in hits if h.paper_id not in ids)][:k]

    def names_a_paper(self, name: str) -> bool:
        """Some paper of the collection carries the (normalised) name."""
        return bool(self.index.paper_ids_by_names([name], limit=1))

    def _users_first(
        self,
        used_as: str,
        used: list[Hit],
        hits: list[Hit],
        vectors: QueryVectors,
        mode: Mode,
        k: int,
        filters: Filters | None,
    ) -> list[Hit]:
        """The hits for papers asked for by what they use (`used_as`: the question after its
        "Which papers use"): the papers writing the name, without the used papers' own
        (`used`): "Which papers use UNITER?" asks for papers other than UNITER's. They are
        searched for by the rest of `used_as`, which the name cannot tell apart: "Which
        papers extend CLIP to video?" asks for the video papers among those writing CLIP,
        which fusion ranks below video papers that do not write it. Only a paper called by a
        name written as one is left out: "Which papers build large Chinese web text
        datasets?" asks for ChineseWebText's. A name of a kind ("ELECTRA-style pre-training")
        asks about the kind: its paper is one. No paper writing the name leaves the hits as
        they are, for the answer to say so.
        """
        names = asked_names(used_as)
        if not names or _KIND_SUFFIX.search(used_as):
            return hits
        # Its own, not one named after it: "Medical mT5" uses mT5.
        own = {
            h.paper_id for h in used if set(names) & (set(_names_of(h)) - set(inner_names(h.title)))
        }
        users: set[str] = set()
        for name in names:
            users |= self._papers_naming(name)
        users -= own
        if filters and filters.paper_ids:
            users &= set(filters.paper_ids)  # a paper filter holds for them too
        if not users:
            return [h for h in hits if h.paper_id not in own]
        topic = used_as
        for name in names:
            topic = as_word(name, re.IGNORECASE).sub(" ", topic)
        if not distinctive_terms(topic):
            topic = used_as  # "Which papers use CLIP?": the name is all it asks
        best = self.index.query(
            self.query_vectors(topic, mode, k),
            mode,
            k,
            self.settings.chunks_per_paper,
            replace(filters or Filters(), paper_ids=tuple(sorted(users))),
        )
        # Their chunks closest to the whole question, which write the name.
        only = Filters(paper_ids=tuple(h.paper_id for h in best))
        chunks = {
            h.paper_id: h.chunks
            for h in self.index.query(vectors, mode, k, self.settings.chunks_per_paper, only)
        }
        return [replace(h, chunks=chunks.get(h.paper_id) or h.chunks) for h in best]

    def _misspelt_elsewhere(
        self, query: str, vectors: QueryVectors, mode: Mode, filters: Filters | None
    ) -> list[Hit]:
        """The one paper a stored name of which the question misspells by a letter, in any
        case ("what is brigdetower", "zecolor"), when retrieval found none: only by a word no
        chunk of the collection uses, so no word of the collection is taken for a typo."""
        typed = {normalise(w) for w in re.findall(r"[\w-]+", query) if len(w) >= MIN_TYPO_CHARS}
        terms = {w: words(w) for w in typed}
        typed = {w for w in typed if len(terms[w]) == 1}
        if not typed:
            return []
        _, df = self.index.document_frequencies([term_id(terms[w][0]) for w in typed])
        unseen = [w for w in typed if not df.get(term_id(terms[w][0]))]
        if not unseen:
            return []
        meant = [n for n in self._stored_names() for t in unseen if misspells(t, n)]
        ids = self.index.paper_ids_by_names(meant, limit=2) if meant else []
        if len(ids) != 1:
            return []  # none, or a letter from two papers' names: no telling which
        if filters and filters.paper_ids and ids[0] not in filters.paper_ids:
            return []  # a paper filter holds for names too
        only = replace(filters or Filters(), paper_ids=(ids[0],))
        return self.index.query(vectors, mode, 1, self.settings.chunks_per_paper, only)

    def _stored_names(self) -> frozenset[str]:
        """Every name the index stores, read again only after the index changed."""
        chunks = self.index.count_chunks()
        if self._names_known[0] != chunks:
            names = self.index.facet("names", limit=MAX_STORED_NAMES)
            self._names_known = (chunks, frozenset(str(n) for n in names))
        return self._names_known[1]

    def named_papers(
        self,
        query: str,
        candidates: list[str],
        vectors: QueryVectors,
        mode: Mode,
        filters: Filters | None,
    ) -> list[Hit]:
        """Hits for the papers the question calls by name (`candidates`, its
        `question_names`), in fused order."""
        plain = [w for w in plain_words(query) if w not in candidates]
        ids = self.index.paper_ids_by_names([*candidates, *plain], limit=NAME_LOOKUP_LIMIT)
        if not ids:
            return []
        only = replace(filters or Filters(), paper_ids=tuple(ids))
        found = self.index.query(vectors, mode, len(ids), self.settings.chunks_per_paper, only)
        asked = set(candidates)
        field_term = self._field_terms()
        sides = set(compared_words(query))
        matched = {
            h.paper_id: self._names_matched(query, asked, h, field_term)
            | self._plain_matched(plain, h, field_term, sides)
            for h in found
        }
        # "What is ChineseWebText 2.0?" names that paper, not ChineseWebText's: a name the
        # question writes only inside a longer one it matched names no paper.
        every = set().union(*matched.values())
        for names in matched.values():
            names -= {
                n
                for n in names
                if (longer := {m for m in every if n in m and m != n})
                and not mentioned_apart(query, n, longer)
            }
        carriers: dict[str, int] = {}
        for names in matched.values():
            for name in names:
                carriers[name] = carriers.get(name, 0) + 1
        within = set(filters.paper_ids) if filters and filters.paper_ids else None
        return [
            h
            for h in found
            if any(carriers[n] < AMBIGUOUS_NAME_PAPERS for n in matched[h.paper_id])
            and (within is None or h.paper_id in within)  # a paper filter holds for names too
        ]

    def _names_matched(
        self, query: str, asked: set[str], hit: Hit, field_term: FieldTerm
    ) -> set[str]:
        """The asked names that name this paper: a name written as one ("ELECTRA", "mT5"),
        a name whose words the collection rarely uses ("Align before Fuse", the "ViLD" its
        abstract coins), or a title prefix the question writes with the title's capitals ("All
        in One"); not a common phrase ("pre-trained models") nor a common word ("LLM" of
        "Aligned with LLM")."""
        distinct = asked.intersection(distinctive_names(hit.title))
        others = asked.intersection(hit.names or paper_names(hit.title)) - distinct
        distinct |= {
            n
            for n in others
            if hit.paper_id in self._papers_releasing(n)
            and (not field_term(n, hit.paper_id) or _holds_the_rest(query, n, hit))
        }
        others -= distinct
        cased = set(whole_names(hit.title)) if writes_title_name(query, hit.title) else set()
        text = " ".join((hit.title, *hit.chunks, hit.text))
        return distinct | {
            n
            for n in others
            if (
                n in cased
                or (
                    (self._rare(n) or self._only_in_capitals(n, query))
                    and not field_term(n, hit.paper_id)
                )
            )
            and not recased(n, query, text)
        }

    def _plain_matched(
        self, plain: list[str], hit: Hit, field_term: FieldTerm, sides: set[str]
    ) -> set[str]:
        """The question's lower-case words that name this paper: "electra" for ELECTRA, when
        the collection writes the word only as a name; not "kind" for KIND, which abstracts
        also use as a word, unless the question only sets such words side by side (`sides`,
        `names.compared_words`): "ovis vs points" compares Ovis with POINTS, the name before
        its title's colon."""
        own = set(distinctive_names(hit.title))
        names = own | set(hit.names)
        return {
            w
            for w in plain
            if (w in sides and w in own)
            or (
                w in names
                and self._only_a_name(w)
                and (w in own or not field_term(w, hit.paper_id))
            )
        }

    def _only_a_name(self, word: str) -> bool:
        # A hyphenated word ("chimed-gpt") by its rarest part: every chunk writing it uses that.
        rarest = self._rarest_word(word)
        found = self._chunks_using(rarest, RARE_NAME_MIN_CHUNKS) if rarest else None
        if found is None:
            return False  # no chunk uses it, or many do: a word, whatever its case
        # None writes it in lower case, but for the address of code ("github.com/ashkamath/mdetr").
        lower = re.compile(r"(?<![\w/.-])" + re.escape(word))
        return not any(lower.search(str(payload.get("text", ""))) for payload in found)

    def _chunks_using(self, word: str, most: int | None = None) -> list[dict[str, Any]] | None:
        """The payloads of every chunk using a one-term word (a term-only query finds exactly
        those); None for a phrase, for a word no chunk uses, or one more than `most` use."""
        ids = [term_id(t) for t in words(word)]
        if len(ids) != 1:
            return None
        _, df = self.index.document_frequencies(ids)
        using = df.get(ids[0], 0)
        if not using or (most is not None and using > most):
            return None
        found = self.index.search_chunks(
            QueryVectors(sparse=sparse_query(word)), "sparse", using, None
        )
        return [payload for _, payload in found]

    def _field_terms(self) -> FieldTerm:
        """For one name lookup, whether a one-word name of a paper is the field's term: other
        papers use it too, more than FIELD_TERM_SHARE of them ("VQA"), so it is not the name
        this paper's abstract gave its work. Each name's papers and the collection's paper
        count are read once for the lookup, however many of its hits carry the name."""
        limit = cache(
            lambda: max(FIELD_TERM_MIN_PAPERS, FIELD_TERM_SHARE * self.index.count_papers())
        )
        writing = cache(self._papers_writing)
        return lambda name, paper_id: len(writing(name) - {paper_id}) > limit()

    def _papers_writing(self, name: str) -> frozenset[str]:
        """Of the chunks using the name's stem, the papers writing it as a word of its own
        ("Mod-X" is no "MoD"); none for a phrase ("align before fuse"), the rarity check's."""
        return self._papers_matching(name, as_word(name, re.IGNORECASE).search)

    def _papers_naming(self, name: str) -> frozenset[str]:
        """The papers writing the name (`names.writes_name`), a name of several words ("GPT-4",
        "wav2vec 2.0") too: looked up by its rarest word, then read whole; and the papers
        whose own name is built on it ("ConceptCLIP: ..." on CLIP), as `holds_name` reads
        them."""
        built = [n for n in self._stored_names() if holds_name(name, frozenset(), (n,))]
        naming = (
            set(self.index.paper_ids_by_names(built, limit=NAME_LOOKUP_LIMIT)) if built else set()
        )
        rarest = self._rarest_word(name)
        if rarest is None:
            return frozenset(naming)
        return frozenset(naming) | self._papers_matching(rarest, lambda t: writes_name(name, t))

    def _rarest_word(self, name: str) -> str | None:
        """The word of a name fewest chunks use ("GPT-4", "chimed-gpt", "wav2vec 2.0"): every
        chunk writing the name uses it. Words of one term only; None when there is none."""
        stems = {w: words(w)[0] for w in re.findall(r"[^\W_]+", name) if len(words(w)) == 1}
        if len(stems) < 2:
            return next(iter(stems), None)
        _, df = self.index.document_frequencies([term_id(t) for t in stems.values()])
        return min(stems, key=lambda w: df.get(term_id(stems[w]), 0) or math.inf)

    def _papers_releasing(self, name: str) -> frozenset[str]:
        """The papers saying they release code under the name ("... our code ... at
        github.com/OpenAI/CLIP"): the name is theirs, however many others use it."""
        return self._papers_matching(name, lambda text: releases(name, text))

    def _papers_matching(self, name: str, written: Callable[[str], object]) -> frozenset[str]:
        """The papers of the chunks using the name's stem whose text `written` accepts."""
        return frozenset(str(p.get("paper_id")) for p in self._chunks_matching(name, written))

    def _chunks_matching(self, name: str, written: Callable[[str], object]) -> list[dict[str, Any]]:
        """The payloads of the chunks using the name's stem whose text `written` accepts."""
        return [p for p in self._chunks_using(name) or [] if written(str(p.get("text", "")))]

    def _only_in_capitals(self, name: str, query: str) -> bool:
        """The question writes the name in capitals ("GRAIN") as one paper alone does: the
        word is common in lower case ("fine-grained"), the acronym is that paper's."""
        typed = {w for w in re.findall(r"[\w-]+", query) if normalise(w) == name}
        capitals = [w for w in typed if len(w) >= MIN_CAPITALS and w.isupper()]
        if not capitals:
            return False
        return len(self._papers_matching(name, as_word(capitals[0]).search)) == 1

    def _rare(self, name: str) -> bool:
        ids = [term_id(t) for t in words(name)]
        if not ids:
            return False
        chunks, df = self.index.document_frequencies(ids)
        limit = max(RARE_NAME_MIN_CHUNKS, RARE_NAME_SHARE * chunks)
        if min(df.get(i, 0) for i in ids) <= limit:
            return True
        if len(ids) > 1 or words(name)[0] == name:
            return False
        # A name stemmed as a common word ("Fusioner" as "fusion"): the chunks writing it.
        return len(self._chunks_matching(name, as_word(name, re.IGNORECASE).search)) <= limit

    def term_weight(self, query: str) -> float:
        """Total IDF of the query's distinctive terms: how specific the query is. A paper's
        `coverage` times this is the IDF mass of the query it holds."""
        terms = distinctive_terms(query)
        if not terms:
            return 0.0
        chunks, df = self.index.document_frequencies([term_id(t) for t in terms])
        return sum(idf(t, df, chunks) for t in terms)

    def _with_coverage(self, query: str, hits: list[Hit]) -> list[Hit]:
        """Attach each paper's coverage of the question's distinctive terms, and whether it
        lacks a name the question uses."""
        terms = distinctive_terms(query)
        if not hits or not terms:
            return hits
        chunks, df = self.index.document_frequencies([term_id(t) for t in terms])
        weights = {t: idf(t, df, chunks) for t in terms}
        unseen = {t for t in terms if not df.get(term_id(t))}
        asked = asked_names(query)
        read = readings(query, terms)
        found = []
        for h in hits:
            text = " ".join((h.title, *h.chunks, h.text))
            held = text_names(text) if asked else frozenset()  # most questions use no name
            missing = [name for name in asked if not mentions(name, text, held, h.names)]
            present = held_words(text, query)  # stemmed once for every reading
            # A name the paper holds in another form ("RAG" in xRAG's "retrieval-augmented
            # generation", "CLIP" as "Contrastive Language-Image Pre-training") is held.
            present.update(w for name in asked if name not in missing for w in words(name))
            covered = max(coverage_of_words(reading, weights, present, unseen) for reading in read)
            holds = bool(asked) and not missing
            found.append(replace(h, coverage=covered, lacks_names=bool(missing), holds_names=holds))
        return found

    def _with_relevance(
        self,
        query: str,
        hits: list[Hit],
        vectors: QueryVectors,
        mode: Mode,
        filters: Filters | None,
    ) -> list[Hit]:
        """Attach each paper's dense cosine: a scale-free signal for abstention."""
        if not hits:
            return hits
        if mode == "dense":
            return [replace(h, relevance=h.score) for h in hits]
        if vectors.dense is None:
            vectors.dense = self.embedder.embed_query(query)
        only = Filters(paper_ids=tuple(h.paper_id for h in hits))
        if filters:
            only = replace(filters, paper_ids=only.paper_ids)
        dense_hits = self.index.query(vectors, "dense", len(hits), 1, only)
        cos = {h.paper_id: h.score for h in dense_hits}
        return [replace(h, relevance=cos.get(h.paper_id)) for h in hits]


def _names_of(hit: Hit) -> list[str]:
    """The paper's stored names and its title's names, normalised."""
    return [*hit.names, *paper_names(hit.title)]


def _first_named_at(query: str, hit: Hit) -> int:
    """Where the question first calls the paper by a name or its title."""
    return first_mention(query, [*_names_of(hit), normalise(hit.title)])


def _named_order(query: str, hit: Hit) -> tuple[int, int]:
    """Where the question calls the paper by its own name, and 0, or else by any of its names,
    and 1: "What is ChineseWebText?" is ChineseWebText's before ChineseWebText 2.0's (which
    ChineseWebText also names); "Compare ChineseWebText and ChineseWebText 2.0" in that order."""
    own = first_mention(query, hit.names[:1])
    return (own, 0) if own < len(normalise(query)) else (_first_named_at(query, hit), 1)


def _holds_the_rest(query: str, name: str, hit: Hit) -> bool:
    """The paper holds every other term of the question: the question is about it ("How many
    image-text pairs was CLIP trained on?"), not about a paper using it, as papers using a name
    the field shares do ("Which medical papers fine-tune CLIP?"). The question's other names
    and how it compares are no such terms: "How does CLIP differ from ALIGN?" is about CLIP
    and ALIGN, whichever the collection holds."""
    others = {w for n in asked_names(query) for w in words(n)}
    rest = set(distinctive_terms(query)) - set(words(name)) - others - _COMPARING_TERMS
    return rest <= set(words(" ".join((hit.title, *hit.chunks, hit.text))))


_COMPARING_TERMS = frozenset(
    words("compare compared comparison differ differs difference differences versus vs")
)
