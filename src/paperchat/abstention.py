"""When the collection does not answer a question: the rule that declines it before any model,
and the one that marks an answer on weak evidence as tentative.

It runs on retrieval's evidence only, so the extractive answer and every model decline the
same questions, and an evaluation of retrieval alone can apply it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from paperchat.citations import split_sentences
from paperchat.embedding import Embedder
from paperchat.records import Hit
from paperchat.settings import AnswerSettings

# Papers whose best chunks are read sentence by sentence for a paraphrase: the answer's
# lead papers; a paraphrase of a paper further down is not one the answer would quote.
SENTENCE_PAPERS = 3


def off_topic(hits: Sequence[Hit], settings: AnswerSettings, sentence: Callable[[], float]) -> bool:
    """True when the collection does not cover the question the hits were retrieved for.

    Off-topic questions still get hits that are close in embedding space (a question on
    quantum computing lands near papers on computing), so dense similarity alone separates
    them poorly. What they lack is vocabulary: no retrieved paper holds much of the question's
    distinctive terms. Paraphrased on-topic questions lack it too, but restate one sentence of
    their paper: so low coverage abstains only while the similarity to the question, the mean
    of the best chunk's and of the best sentence's (`sentence`, asked for only then: it embeds
    the sentences), is below `coverage_relevance`. A chunk's similarity alone is diluted by
    the rest of its window, so a question near a paper's field but about something else
    matches a chunk about as well as a paraphrase does; it matches no sentence as well.
    A question using a name ("What MMLU score does GPT-4 get?", "LEVI video editing") that no
    retrieved paper mentions abstains at any similarity: a paper on the topic is no answer
    about a method it never names. A similarity below `abstain_threshold` abstains on its own.
    Coverage is the best over the hits: one paper that covers the question is enough, if it is
    at least `coverage_min_relevance` similar ("thanks!" is not covered by an abstract's
    "Thanks to ..."). A question without distinctive terms has no coverage: only similarity
    answers it. A question that names a paper of the collection is covered by it.
    """
    if not hits:
        return True
    if any(h.named for h in hits):
        return False  # the question names a paper of the collection: that paper covers it
    best = _best_relevance(hits)
    if best is None:
        return False
    if best < settings.abstain_threshold:
        return True
    if all(h.lacks_names for h in hits):
        return True  # it asks about a "GPT-4" that no retrieved paper mentions
    cover = covering(hits, settings)
    if cover is not None and cover >= settings.coverage_threshold:
        return False
    return _similarity(best, sentence) < settings.coverage_relevance


def tentative(hits: Sequence[Hit], settings: AnswerSettings, sentence: Callable[[], float]) -> bool:
    """True when a question the collection answers (`off_topic` is False) is answered on weak
    evidence: no paper holds `sure_coverage` of its terms and the similarity (as `off_topic`
    reads it) is below `sure_relevance`. Near a paper's field but about something else ("Which
    paper uses graph neural networks for traffic forecasting?", answered from a time-series
    paper) and paraphrased questions both land there; the answer says it may not match
    rather than declining the paraphrases with them. A question naming a paper is sure of it.
    """
    if not hits or any(h.named for h in hits):
        return False
    cover = covering(hits, settings)
    if cover is not None and cover >= settings.sure_coverage:
        return False
    best = _best_relevance(hits)
    return best is not None and _similarity(best, sentence) < settings.sure_relevance


def _best_relevance(hits: Sequence[Hit]) -> float | None:
    """The closest retrieved paper's dense similarity; None when no hit was measured."""
    return max((h.relevance for h in hits if h.relevance is not None), default=None)


def _similarity(best: float, sentence: Callable[[], float]) -> float:
    """How close the question is to the collection, read as a paraphrase's closeness to its
    paper: the mean of the best chunk's and the closest sentence's similarity."""
    return (best + sentence()) / 2


def covering(hits: Sequence[Hit], settings: AnswerSettings) -> float | None:
    """The best coverage of the question's terms among the hits whose coverage counts, those
    at least `coverage_min_relevance` similar. None when no hit's coverage counts (or the
    question has no distinctive terms: "How many papers are there?")."""
    return max(
        (
            h.coverage
            for h in hits
            if h.coverage is not None and (h.relevance or 0.0) >= settings.coverage_min_relevance
        ),
        default=None,
    )


def sentence_relevance(embedder: Embedder, question: str, hits: Sequence[Hit]) -> float:
    """Cosine of the question and the closest sentence of the lead papers' best chunks."""
    sentences = [
        s
        for hit in hits[:SENTENCE_PAPERS]
        for chunk in hit.chunks or (hit.text,)
        for s in split_sentences(chunk)
    ]
    if not sentences:
        return 0.0
    return float(np.max(embedder.embed(sentences) @ embedder.embed_query(question)))
