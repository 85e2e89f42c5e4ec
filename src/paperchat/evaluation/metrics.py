"""Evaluation metrics as pure functions over paper ids, answer texts and timings.

Relevance is binary: a retrieved paper is relevant when it is one of the item's gold papers.
Items may have several gold papers (comparisons, lists). Recall@k and nDCG@k follow their
standard definitions (as in BEIR, ranx and pytrec_eval; tests check them against ranx);
`capped_recall_at_k` is the variant that divides by what the top k could hold.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from paperchat.evaluation.gold import contains_phrase


def _dedupe(ranked: Iterable[str]) -> list[str]:
    """A paper retrieved twice counts once, at its best rank."""
    return list(dict.fromkeys(ranked))


def recall_at_k(ranked: Sequence[str], gold: Collection[str], k: int) -> float:
    """Standard recall@k: the gold papers in the top k over all gold papers."""
    if not gold or k < 1:
        return 0.0
    return len(set(_dedupe(ranked)[:k]) & set(gold)) / len(set(gold))


def capped_recall_at_k(ranked: Sequence[str], gold: Collection[str], k: int) -> float:
    """Share of the gold papers in the top k, out of the most the top k could hold.

    The denominator is min(k, |gold|): with two gold papers a perfect ranking scores 1.0 at
    k=1 too, so Recall@1 reads as "the top paper is a gold one" for every item type.
    """
    if not gold or k < 1:
        return 0.0
    found = len(set(_dedupe(ranked)[:k]) & set(gold))
    return found / min(k, len(gold))


def reciprocal_rank(ranked: Sequence[str], gold: Collection[str]) -> float:
    """1 / rank of the first gold paper; 0 when none was retrieved."""
    for rank, paper_id in enumerate(_dedupe(ranked), start=1):
        if paper_id in gold:
            return 1.0 / rank
    return 0.0


def mrr(rankings: Sequence[Sequence[str]], golds: Sequence[Collection[str]]) -> float:
    """Mean reciprocal rank over items."""
    scores = [reciprocal_rank(r, g) for r, g in zip(rankings, golds, strict=True)]
    return mean(scores)


def ndcg_at_k(ranked: Sequence[str], gold: Collection[str], k: int) -> float:
    """Binary-relevance nDCG: gains 1/log2(rank+1), divided by the ideal ranking's."""
    if not gold or k < 1:
        return 0.0
    dcg = sum(
        1.0 / math.log2(rank + 1)
        for rank, paper_id in enumerate(_dedupe(ranked)[:k], start=1)
        if paper_id in gold
    )
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(gold)) + 1))
    return dcg / ideal


# -- answers ---------------------------------------------------------------------------------


def must_include_match(text: str, phrase: str) -> bool:
    """`phrase` occurs in `text` case-insensitively on word boundaries ("STAR" not in "start")."""
    return contains_phrase(text, phrase)


def must_include_score(text: str, phrases: Sequence[str]) -> float:
    """Share of the phrases found; 1.0 when there are none to find."""
    if not phrases:
        return 1.0
    return sum(must_include_match(text, p) for p in phrases) / len(phrases)


def citation_precision(cited: Collection[str], gold: Collection[str]) -> float | None:
    """Share of the distinct cited papers that are gold; None when nothing was cited."""
    cited = set(cited)
    if not cited:
        return None
    return len(cited & set(gold)) / len(cited)


def citation_recall(cited: Collection[str], gold: Collection[str]) -> float:
    """Share of the gold papers the answer cites; 0.0 without gold papers."""
    if not gold:
        return 0.0
    return len(set(cited) & set(gold)) / len(set(gold))


@dataclass(frozen=True, slots=True)
class AbstentionStats:
    """How well declining to answer tracks whether the collection covers the question."""

    unanswerable: int  # items the collection does not cover
    abstained_right: int  # ... on which the system declined
    answerable: int
    declined_wrongly: int  # answerable items the system declined anyway

    @property
    def right_rate(self) -> float | None:
        """Recall of abstention on unanswerable items."""
        return self.abstained_right / self.unanswerable if self.unanswerable else None

    @property
    def wrong_rate(self) -> float | None:
        """Share of answerable items wrongly declined."""
        return self.declined_wrongly / self.answerable if self.answerable else None

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "unanswerable": self.unanswerable,
            "abstained_right": self.abstained_right,
            "right_rate": self.right_rate,
            "answerable": self.answerable,
            "declined_wrongly": self.declined_wrongly,
            "wrong_rate": self.wrong_rate,
        }


def abstention_stats(outcomes: Iterable[tuple[bool, bool]]) -> AbstentionStats:
    """From (answerable, abstained) pairs, one per item."""
    pairs = list(outcomes)
    return AbstentionStats(
        unanswerable=sum(not answerable for answerable, _ in pairs),
        abstained_right=sum(not answerable and abstained for answerable, abstained in pairs),
        answerable=sum(answerable for answerable, _ in pairs),
        declined_wrongly=sum(answerable and abstained for answerable, abstained in pairs),
    )


# -- aggregates ------------------------------------------------------------------------------


def mean(values: Iterable[float | None]) -> float:
    """Mean of the defined values; 0.0 when there are none."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """q-th percentile (0-100) with linear interpolation between ranks, as numpy's default."""
    if not values:
        return 0.0
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean of per-question latencies, in seconds."""
    return {
        "p50": percentile(seconds, 50),
        "p95": percentile(seconds, 95),
        "mean": mean(seconds),
    }
