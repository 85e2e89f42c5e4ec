"""Calibrate the answerer's two thresholds on the gold set.

    python eval/calibrate.py [--gold eval/gold/papers.jsonl] [--max-wrong 0.03]

abstain_threshold: the best retrieved paper's dense relevance, for answerable against
unanswerable gold questions. The pick abstains on as many unanswerable questions as possible
while wrongly abstaining on at most --max-wrong of the answerable ones (the middle of the best
range, for margin).

support_threshold: how similar a gold answer sentence is to its gold paper's retrieved passage
(should support) against the other retrieved papers' passages (should not). The pick
maximises Youden's J (supported-right rate minus supported-wrong rate). The re-cite margin is
checked too: how often another paper beats the gold one by it.

Uses the index in PAPERCHAT_DATA_DIR (run `paperchat ingest` first); reads, never writes.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paperchat.answering import Answerer, merge_chunks
from paperchat.citations import RECITE_MARGIN, CitationChecker, split_markers, split_sentences
from paperchat.corpus import load_papers
from paperchat.gold import GoldItem, load_gold, resolve
from paperchat.pipeline import Pipeline
from paperchat.prompts import Source
from paperchat.settings import Settings

GOLD = Path(__file__).parent / "gold" / "papers.jsonl"
GRID = [round(i * 0.01, 2) for i in range(0, 81)]


@dataclass
class Samples:
    answerable: list[float] = field(default_factory=list)  # best relevance per question
    unanswerable: list[float] = field(default_factory=list)
    support_gold: list[float] = field(default_factory=list)  # sentence vs its gold passage
    support_other: list[float] = field(default_factory=list)  # sentence vs other passages
    gold_lead: list[float] = field(default_factory=list)  # gold score - best other score
    skipped: int = 0  # answerable items whose gold paper was not retrieved


def collect(pipeline: Pipeline, items: Sequence[GoldItem]) -> Samples:
    answerer = pipeline.answerer("extractive")  # heuristic follow-up condensing, no model
    samples = Samples()
    for item in items:
        query = answerer.condense(answerer.validate(item.question), item.history)
        hits = pipeline.retriever.search(query)
        best = max((h.relevance for h in hits if h.relevance is not None), default=0.0)
        (samples.answerable if item.answerable else samples.unanswerable).append(best)
        if item.answerable:
            add_support(samples, answerer, item, hits)
    return samples


def add_support(samples: Samples, answerer: Answerer, item: GoldItem, hits: list) -> None:
    sources = [Source(i, h, merge_chunks(h.chunks or (h.text,))) for i, h in enumerate(hits, 1)]
    gold = {s.n for s in sources if s.hit.paper_id in item.gold_paper_ids}
    if not gold:
        samples.skipped += 1
        return
    checker = CitationChecker(answerer.embedder, sources, threshold=0.0)
    for sentence in split_sentences(item.answer):
        claim, _ = split_markers(sentence)
        scores = checker.support(claim)
        best_gold = max(scores[n] for n in gold)
        others = [v for n, v in scores.items() if n not in gold]
        samples.support_gold.append(best_gold)
        samples.support_other.extend(others)
        if others:
            samples.gold_lead.append(best_gold - max(others))


def rate(values: Sequence[float], threshold: float) -> float:
    """Share of values below the threshold."""
    return sum(v < threshold for v in values) / len(values) if values else 0.0


def pick_abstain(samples: Samples, max_wrong: float) -> float:
    allowed = [t for t in GRID if rate(samples.answerable, t) <= max_wrong]
    best = max(rate(samples.unanswerable, t) for t in allowed)
    tied = [t for t in allowed if rate(samples.unanswerable, t) == best]
    return round((tied[0] + tied[-1]) / 2, 3)


def youden(samples: Samples, t: float) -> float:
    return (1 - rate(samples.support_gold, t)) - (1 - rate(samples.support_other, t))


def pick_support(samples: Samples) -> float:
    best = max(youden(samples, t) for t in GRID)
    tied = [t for t in GRID if youden(samples, t) == best]
    return round((tied[0] + tied[-1]) / 2, 3)


def quantiles(values: Sequence[float]) -> str:
    q = statistics.quantiles(values, n=20) if len(values) > 1 else list(values) * 19
    shown = {"min": min(values), "p5": q[0], "p25": q[4], "p50": q[9], "p75": q[14]}
    shown |= {"p95": q[18], "max": max(values)}
    return "  ".join(f"{k} {v:.3f}" for k, v in shown.items())


def _mark(t: float, picked: float, current: float) -> str:
    return " <- pick" if t == picked else " <- current" if t == current else ""


def report(samples: Samples, settings: Settings, max_wrong: float) -> None:
    current = settings.answer
    print(f"answerable questions: {len(samples.answerable)}  {quantiles(samples.answerable)}")
    print(f"unanswerable:         {len(samples.unanswerable)}  {quantiles(samples.unanswerable)}")
    print("\nabstain threshold | abstains on unanswerable | wrongly on answerable")
    picked = pick_abstain(samples, max_wrong)
    for t in sorted({0.2, 0.25, 0.3, 0.35, 0.4, current.abstain_threshold, picked}):
        mark = _mark(t, picked, current.abstain_threshold)
        right, wrong = rate(samples.unanswerable, t), rate(samples.answerable, t)
        print(f"{t:17.3f} | {right:24.1%} | {wrong:21.1%}{mark}")

    print(f"\nsupport: {len(samples.support_gold)} gold answer sentences ", end="")
    print(f"({samples.skipped} items without their gold paper retrieved)")
    print(f"  vs gold passage:   {quantiles(samples.support_gold)}")
    print(f"  vs other passages: {quantiles(samples.support_other)}")
    print("support threshold | gold sentences supported | others clearing it | Youden J")
    chosen = pick_support(samples)
    for t in sorted({0.3, 0.35, 0.4, 0.45, 0.5, current.support_threshold, chosen}):
        mark = _mark(t, chosen, current.support_threshold)
        tpr, fpr = 1 - rate(samples.support_gold, t), 1 - rate(samples.support_other, t)
        print(f"{t:17.3f} | {tpr:24.1%} | {fpr:18.1%} | {youden(samples, t):8.3f}{mark}")
    lost = sum(lead <= -RECITE_MARGIN for lead in samples.gold_lead) / len(samples.gold_lead)
    print(f"re-cite margin {RECITE_MARGIN}: another paper beats the gold one by it on {lost:.1%}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=GOLD)
    parser.add_argument("--max-wrong", type=float, default=0.03, help="wrong abstention budget")
    args = parser.parse_args(argv)
    settings = Settings()
    pipeline = Pipeline(settings)
    try:
        papers, _ = load_papers(settings.corpus.paths)
        items = resolve(load_gold([args.gold]), papers)
        samples = collect(pipeline, items)
    finally:
        pipeline.close()
    report(samples, settings, args.max_wrong)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
