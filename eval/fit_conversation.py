"""Fit the conversation thresholds on the fit part of the gold conversations.

    python eval/fit_conversation.py [--gold eval/gold/conversations.jsonl] [--split fit]

A turn after a conversation is read on its own (a new topic) when it names a paper outside
the conversation, or when the paper retrieval finds for it alone holds `standalone_terms`
more of its distinctive terms (summed IDF) and is `standalone_relevance` closer in dense
similarity than the conversation's papers (paperchat.conversation.finds_its_own_paper).
Here each turn's conversation paper is the previous turn's gold paper, as when the previous
answer was right. Switch turns must
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

from paperchat.conversation import compares_back, finds_its_own_paper
from paperchat.corpus import load_papers
from paperchat.evaluation.conversations import CONVERSATIONS_FILE, read_conversations, select
from paperchat.index import Filters
from paperchat.pipeline import Pipeline
from paperchat.records import Hit
from paperchat.settings import AnswerSettings, Settings

TERMS_GRID = [round(0.5 * i, 1) for i in range(0, 41)]
RELEVANCE_GRID = [round(0.02 * i, 2) for i in range(-10, 26)]


@dataclass(frozen=True, slots=True)
class Case:
    kind: str
    question: str
    own: list[Hit]  # retrieved alone, without the conversation's papers
    ours: list[Hit]  # the conversation's papers, scored for the turn
    term_weight: float  # total IDF of the turn's distinctive terms


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
            weight = pipeline.retriever.term_weight(turn.question)
            found.append(Case(turn.kind, turn.question, own, ours, weight))
    return found


def leaves(case: Case, settings: AnswerSettings) -> bool:
    """The reader's rule: a named paper of its own, or evidence (finds_its_own_paper)."""
    named = any(h.named for h in case.own)
    return named or finds_its_own_paper(case.own, case.ours, case.term_weight, settings)


def right(case: Case, settings: AnswerSettings) -> bool:
    if case.kind == "switch":
        return leaves(case, settings) and not compares_back(case.question)
    if case.kind == "comparison":
        return compares_back(case.question) and leaves(case, settings)
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
    for terms, relevance in itertools.product(TERMS_GRID, RELEVANCE_GRID):
        s = base.model_copy(update={"standalone_terms": terms, "standalone_relevance": relevance})
        scored.append((sum(right(c, s) for c in found), terms, relevance, s))
    top = max(score for score, *_ in scored)
    best = [x for x in scored if x[0] == top]
    # The middle of the best region: the median terms threshold, then the median relevance.
    terms = statistics.median_low(sorted({x[1] for x in best}))
    relevances = sorted({x[2] for x in best if x[1] == terms})
    relevance = statistics.median_low(relevances)
    score, *_, chosen = next(x for x in best if x[1] == terms and x[2] == relevance)
    print(f"{len(found)} turns after a conversation ({args.split}); {len(best)} settings tie")
    print(f"  terms {min(x[1] for x in best)}-{max(x[1] for x in best)}")
    print(f"  relevance at terms={terms}: {relevances[0]}-{relevances[-1]}")
    print(f"pick: standalone_terms={terms} standalone_relevance={relevance}")
    print(f"right: {score}/{len(found)}")
    for c in found:
        if not right(c, chosen):
            top_hit = c.own[0].title[:50] if c.own else "-"
            print(f"  wrong ({c.kind}): {c.question}  [alone: {top_hit}]")


if __name__ == "__main__":
    main()
