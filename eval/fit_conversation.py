"""Fit the conversation thresholds on the fit part of the gold conversations.

    python eval/fit_conversation.py [--gold eval/gold/conversations.jsonl] [--split fit]

A turn after a conversation is read on its own (a new topic) when the paper retrieval finds
for it alone holds at least `standalone_coverage` of its distinctive terms and answers its
words by `standalone_margin` more (relevance + conversation_coverage_weight * coverage) than
the conversation's papers do (paperchat.conversation). Here each turn's conversation paper
is the previous turn's gold paper, as when the previous answer was right. Switch turns must
leave the conversation, pronoun and elliptical follow-ups must stay, and comparison turns
must find their one other paper. The pick: most turns right, then the middle of the
equally good settings (for margin).

Uses the index in PAPERCHAT_DATA_DIR (run `paperchat ingest` first); reads, never writes.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path

from paperchat.conversation import finds_its_own_paper
from paperchat.conversation_eval import CONVERSATIONS_FILE, read_conversations, select
from paperchat.corpus import load_papers
from paperchat.extractive import asks_for_several
from paperchat.index import Filters
from paperchat.pipeline import Pipeline
from paperchat.records import Hit
from paperchat.settings import AnswerSettings, Settings

COVERAGE_GRID = [round(0.05 * i, 2) for i in range(0, 21)]
MARGIN_GRID = [round(0.05 * i, 2) for i in range(-10, 21)]
WEIGHT_GRID = [0.5, 1.0, 1.5]


@dataclass(frozen=True, slots=True)
class Case:
    kind: str
    question: str
    own: list[Hit]  # retrieved alone, without the conversation's papers
    ours: list[Hit]  # the conversation's papers, scored for the turn


def cases(pipeline: Pipeline, gold: Path, split: str) -> list[Case]:
    papers, _ = load_papers(pipeline.settings.corpus.paths)
    found: list[Case] = []
    for conv in select(read_conversations(gold, papers), split):
        for before, turn in itertools.pairwise(conv.turns):
            ids = before.gold_paper_ids
            alone = pipeline.retriever.search(turn.question)
            ours = pipeline.retriever.search(
                turn.question, k=len(ids), filters=Filters(paper_ids=ids)
            )
            own = [h for h in alone if h.paper_id not in ids]
            found.append(Case(turn.kind, turn.question, own, ours))
    return found


def leaves(case: Case, settings: AnswerSettings) -> bool:
    """The reader's rule: a named paper of its own, or evidence (finds_its_own_paper)."""
    named = any(h.named for h in case.own)
    return named or finds_its_own_paper(case.own, case.ours, settings)


def right(case: Case, settings: AnswerSettings) -> bool:
    if case.kind == "switch":
        return leaves(case, settings)
    if case.kind == "comparison":
        return asks_for_several(case.question) and leaves(case, settings)
    return not leaves(case, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=Path, default=CONVERSATIONS_FILE)
    parser.add_argument("--split", default="fit", choices=["fit", "test", "all"])
    args = parser.parse_args()
    pipeline = Pipeline(Settings())
    try:
        found = cases(pipeline, args.gold, args.split)
    finally:
        pipeline.close()
    base = AnswerSettings()
    scored = []
    for cov, margin, weight in itertools.product(COVERAGE_GRID, MARGIN_GRID, WEIGHT_GRID):
        s = base.model_copy(
            update={
                "standalone_coverage": cov,
                "standalone_margin": margin,
                "conversation_coverage_weight": weight,
            }
        )
        scored.append((sum(right(c, s) for c in found), cov, margin, weight, s))
    top = max(score for score, *_ in scored)
    best = [x for x in scored if x[0] == top]
    weight = statistics.mode(w for *_, w, _ in best)  # the weight most settings tie at
    ties = [x for x in best if x[3] == weight]
    cov = statistics.median_low(sorted({x[1] for x in ties}))
    margins = sorted({x[2] for x in ties if x[1] == cov})
    margin = statistics.median_low(margins)
    score, *_, chosen = next(x for x in ties if x[1] == cov and x[2] == margin)
    print(f"{len(found)} turns after a conversation ({args.split}); {len(best)} settings tie")
    for w in sorted({x[3] for x in best}):
        tied = [x for x in best if x[3] == w]
        print(
            f"  weight {w}: coverage {min(x[1] for x in tied)}-{max(x[1] for x in tied)}, "
            f"margin {min(x[2] for x in tied)}-{max(x[2] for x in tied)} ({len(tied)} settings)"
        )
    print(f"pick: standalone_coverage={cov} standalone_margin={margin} coverage_weight={weight}")
    print(f"  (margins {margins[0]}-{margins[-1]} tie at that coverage)")
    print(f"right: {score}/{len(found)}")
    for c in found:
        if not right(c, chosen):
            top_hit = c.own[0].title[:50] if c.own else "-"
            print(f"  wrong ({c.kind}): {c.question}  [alone: {top_hit}]")


if __name__ == "__main__":
    main()
