"""Retrieval on keyword queries drawn from the corpus's own abstracts.

    python eval/keyword_queries.py [--papers 150] [--seed 7] [--k 10]

A user who remembers a few words of a paper types them: each query is three to five
consecutive content words of one sentence of a paper's abstract (not its first or last), and
that paper is the one to find. The queries are drawn afresh from whatever corpus is ingested,
with a fixed seed, so they belong to no gold file and no threshold was fitted on them. They
favour BM25 (the words are the abstract's own), where paraphrases favour dense search; the
table shows each mode, and hybrid with `sparse_lead` 1.5 (a BM25 paper far ahead leads).

Uses the index in PAPERCHAT_DATA_DIR (run `paperchat ingest` first); reads, never writes.
"""

from __future__ import annotations

import argparse
import random
import re
from dataclasses import dataclass

from paperchat.citations import split_sentences
from paperchat.corpus import load_papers
from paperchat.pipeline import Pipeline
from paperchat.retrieval import Retriever
from paperchat.settings import Settings

# Words that say nothing of one paper: how abstracts are written, and function words.
_FILLER_WORDS = (
    "a an the of for and or with to in on via by at is are was were be been being we our this "
    "that these those it its their they which from as into than then also can may such both "
    "each other more most over under between using use used based new propose proposed show "
    "shows demonstrate results method methods approach model models paper work task tasks "
    "performance existing however while not no only has have had will would further first "
    "two three one significantly state art large"
)
_FILLER = frozenset(_FILLER_WORDS.split())
_WORD = re.compile(r"[A-Za-z][A-Za-z-]+")
SPARSE_LEAD = 1.5


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    paper_id: str


def draw(settings: Settings, papers: int, seed: int) -> list[Query]:
    """Keyword queries, one per sampled paper with a sentence of enough content words."""
    corpus, _ = load_papers(settings.corpus.paths)
    rng = random.Random(seed)
    queries = []
    for paper in rng.sample(corpus, min(papers, len(corpus))):
        sentences = split_sentences(paper.abstract)
        sentence = rng.choice(sentences[1:-1] or sentences)
        words = [w.lower() for w in _WORD.findall(sentence) if w.lower() not in _FILLER]
        if len(words) < 3:
            continue
        n = min(rng.randint(3, 5), len(words))
        at = rng.randint(0, len(words) - n)
        queries.append(Query(" ".join(words[at : at + n]), paper.paper_id))
    return queries


def scores(retriever: Retriever, queries: list[Query], mode: str, k: int) -> tuple[float, ...]:
    """MRR, R@1 and R@5 of the queries' own papers in the top k."""
    ranks = []
    for query in queries:
        ids = [h.paper_id for h in retriever.search(query.text, k=k, mode=mode)]
        ranks.append(ids.index(query.paper_id) + 1 if query.paper_id in ids else None)
    n = len(ranks) or 1
    return (
        sum(1 / r for r in ranks if r) / n,
        sum(r == 1 for r in ranks) / n,
        sum(bool(r) and r <= 5 for r in ranks) / n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    settings = Settings()
    queries = draw(settings, args.papers, args.seed)
    with Pipeline(settings) as pipeline:
        leads = settings.retrieval.model_copy(update={"sparse_lead": SPARSE_LEAD})
        leading = Retriever(pipeline.index, pipeline.embedder, leads)
        rows = [
            ("hybrid (default)", pipeline.retriever, "hybrid"),
            (f"hybrid, sparse_lead {SPARSE_LEAD}", leading, "hybrid"),
            ("sparse (BM25)", pipeline.retriever, "sparse"),
            ("dense", pipeline.retriever, "dense"),
        ]
        print(f"{len(queries)} keyword queries (seed {args.seed})\n")
        print(f"{'mode':28} {'MRR':>6} {'R@1':>6} {'R@5':>6}")
        for name, retriever, mode in rows:
            mrr, r1, r5 = scores(retriever, queries, mode, args.k)
            print(f"{name:28} {mrr:6.3f} {r1:6.3f} {r5:6.3f}")


if __name__ == "__main__":
    main()
