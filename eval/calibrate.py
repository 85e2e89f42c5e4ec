"""Calibrate the answerer's thresholds on the gold set.

    python eval/calibrate.py [--gold eval/gold/papers.jsonl] [--max-wrong 0.03]

Fits on the gold file's `fit` split only (see eval/gold/README.md): `paperchat eval` reports
the held-out `test` split, so the reported numbers are not the ones the thresholds were fitted
to. A question that names a paper of the collection is answered whatever the thresholds (see
abstention.off_topic), so it is left out of the fit.

Abstention (see abstention.off_topic): abstain_threshold on the best retrieved paper's dense
relevance, coverage_threshold on the largest share of the question's distinctive terms a
retrieved paper holds (abstention.covering: which papers' coverage counts is not fitted), and
coverage_relevance, the similarity above which low coverage is answered anyway (the mean of
the best relevance and of the closest sentence's similarity). The three are picked together,
on answerable against unanswerable gold questions: as many unanswerable questions abstained
on as possible while wrongly abstaining on at most --max-wrong of the answerable ones (fewest
wrong among those; then the pick nearest the middle of the equally good ones, for margin).

support_threshold: how similar a gold answer sentence is to its gold paper's retrieved passage
(should support) against the other retrieved papers' passages (should not). The pick
maximises Youden's J (supported-right rate minus supported-wrong rate). The re-cite margin is
checked too: how often another paper beats the gold one by it.

Uses the index in PAPERCHAT_DATA_DIR (run `paperchat ingest` first); reads, never writes.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paperchat.abstention import covering, sentence_relevance
from paperchat.answering import Answerer, merge_chunks
from paperchat.citations import RECITE_MARGIN, CitationChecker, split_markers, split_sentences
from paperchat.corpus import load_papers
from paperchat.evaluation.gold import FIT, GoldItem, load_gold, resolve, select_split
from paperchat.pipeline import Pipeline
from paperchat.prompts import Source
from paperchat.settings import Settings

GOLD = Path(__file__).parent / "gold" / "papers.jsonl"
GRID = [round(i * 0.01, 2) for i in range(0, 81)]
COARSE = [round(i * 0.02, 2) for i in range(0, 41)]  # the joint abstention search is 3-D
# best dense relevance, best coverage among the hits, the closest sentence's similarity
Signals = tuple[float, float, float]


@dataclass
class Samples:
    answerable: list[Signals] = field(default_factory=list)  # per question
    unanswerable: list[Signals] = field(default_factory=list)
    support_gold: list[float] = field(default_factory=list)  # sentence vs its gold passage
    support_other: list[float] = field(default_factory=list)  # sentence vs other passages
    gold_lead: list[float] = field(default_factory=list)  # gold score - best other score
    skipped: int = 0  # answerable items whose gold paper was not retrieved
    named: int = 0  # questions naming a paper: answered whatever the thresholds


def collect(pipeline: Pipeline, items: Sequence[GoldItem]) -> Samples:
    answerer = pipeline.answerer("extractive")  # the conversation read from evidence, no model
    samples = Samples()
    for item in items:
        reading = answerer.read(answerer.validate(item.question), item.history)
        hits = reading.hits
        if item.answerable:
            add_support(samples, answerer, item, hits)
        if any(h.named for h in hits):
            samples.named += 1
            continue
        best = max((h.relevance for h in hits if h.relevance is not None), default=0.0)
        cover = covering(hits, pipeline.settings.answer) or 0.0  # off_topic's; floor not fitted
        sentence = sentence_relevance(answerer.embedder, reading.question, hits)
        signals = (best, cover, sentence)
        (samples.answerable if item.answerable else samples.unanswerable).append(signals)
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


Rule = tuple[float, float, float]  # abstain_threshold, coverage_threshold, coverage_relevance


def abstains(signals: Signals, rule: Rule) -> bool:
    """abstention.off_topic on the collected signals."""
    (relevance, cover, sentence), (floor, min_cover, trusted) = signals, rule
    return relevance < floor or (cover < min_cover and (relevance + sentence) / 2 < trusted)


def abstain_rate(samples: Sequence[Signals], rule: Rule) -> float:
    return sum(abstains(s, rule) for s in samples) / len(samples) if samples else 0.0


def pick_abstention(samples: Samples, max_wrong: float) -> Rule:
    scored = [
        (abstain_rate(samples.unanswerable, r), -abstain_rate(samples.answerable, r), r)
        for r in itertools.product(COARSE, COARSE, COARSE)
        if r[2] >= r[0]  # below the floor every question abstains already
    ]
    allowed = [x for x in scored if -x[1] <= max_wrong]
    best = max(x[:2] for x in allowed)
    tied = [x[2] for x in allowed if x[:2] == best]
    middle = [statistics.median(r[i] for r in tied) for i in range(3)]
    return min(tied, key=lambda r: sum((a - m) ** 2 for a, m in zip(r, middle, strict=True)))


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
    print(f"fit split; {samples.named} questions name a paper (answered, not fitted)")
    for name, i in (("relevance", 0), ("coverage", 1), ("sentence", 2)):
        for kind, values in (
            ("answerable", samples.answerable),
            ("unanswerable", samples.unanswerable),
        ):
            shown = [v[i] for v in values]
            print(f"{name} {kind:12s} {len(shown):4d}  {quantiles(shown)}")
    print("\nabstain / coverage / coverage_relevance | on unanswerable | wrongly on answerable")
    picked = pick_abstention(samples, max_wrong)
    now = (current.abstain_threshold, current.coverage_threshold, current.coverage_relevance)
    relevance_only = (current.abstain_threshold, 0.0, 0.0)
    for rule in dict.fromkeys((relevance_only, now, picked)):
        mark = " <- pick" if rule == picked else " <- current" if rule == now else ""
        right = abstain_rate(samples.unanswerable, rule)
        wrong = abstain_rate(samples.answerable, rule)
        label = " / ".join(f"{t:.2f}" for t in rule)
        print(f"{label:>39s} | {right:15.1%} | {wrong:21.1%}{mark}")

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
        items = select_split(resolve(load_gold([args.gold]), papers), FIT)
        samples = collect(pipeline, items)
    finally:
        pipeline.close()
    report(samples, settings, args.max_wrong)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
