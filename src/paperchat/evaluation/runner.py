"""Gold items x configs -> per-item results, each scored once, here.

Retrieval-only configs search each question (a follow-up with its last user turn prepended);
answer configs go through the Answerer with the conversation history. Every per-item score
and decision (ranks, recall, must_include terms missed, citations, abstention) is computed
when the item is run, so the summary only aggregates and the report only renders.
Unanswerable items only count for abstention. Runs are deterministic: temperature 0, seeded.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paperchat.abstention import off_topic, sentence_relevance
from paperchat.answering import Answerer
from paperchat.corpus import load_papers
from paperchat.evaluation.baseline import LlamaIndexBaseline
from paperchat.evaluation.configs import SEED, EvalConfig, load_presets, make_config
from paperchat.evaluation.gold import (
    FOLLOW_UP,
    TEST,
    GoldItem,
    check_gold,
    load_gold,
    resolve,
    select_split,
)
from paperchat.evaluation.judge import Judge
from paperchat.evaluation.metrics import (
    capped_recall_at_k,
    citation_precision,
    citation_recall,
    contains_phrase,
    must_include_score,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
)
from paperchat.pipeline import Pipeline
from paperchat.prompts import marked_numbers
from paperchat.records import Answer, Hit, Paper
from paperchat.settings import AnswerSettings

log = logging.getLogger(__name__)

RETRIEVAL_DEPTH = 10  # papers ranked per question by retrieval-only configs
REPORT_KS = (1, 3, 5, 10)
NDCG_KS = (5, 10)

Search = Callable[[str, int], list[Hit]]
Progress = Callable[[str, int], None]  # (config that just finished a question, total steps)


# -- items -----------------------------------------------------------------------------------


def sample(items: Sequence[GoldItem], limit: int | None) -> list[GoldItem]:
    """The first `limit` items taken round-robin over types, so a small run covers each."""
    if limit is None or limit >= len(items):
        return list(items)
    by_type: dict[str, list[GoldItem]] = {}
    for item in items:
        by_type.setdefault(item.type, []).append(item)
    picked: list[GoldItem] = []
    while len(picked) < limit:
        for queue in by_type.values():
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return picked


def retrieval_query(item: GoldItem) -> str:
    """Without an answerer to condense it, a follow-up is searched with its last user turn."""
    if item.type != FOLLOW_UP:
        return item.question
    last_user = next((t.content for t in reversed(item.history) if t.role == "user"), "")
    return f"{last_user} {item.question}".strip()


def shown_path(path: Path) -> str:
    """A path as a report shows it: relative to the working folder when inside it, so a
    committed report does not carry one machine's folders."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- per-item scores -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemScores:
    """Every score and decision about one item under one config, computed once."""

    abstained: bool  # the answerer's decision, or the same rule on a retrieval config's hits
    reciprocal_rank: float | None = None  # None: no gold papers (unanswerable)
    recall_curve: tuple[float, ...] = ()  # standard recall@1..depth
    capped_curve: tuple[float, ...] = ()  # recall@1..depth over min(k, gold papers)
    ndcg: dict[int, float] = field(default_factory=dict)
    must_include: float | None = None  # share of the must_include terms in the answer
    missed_terms: tuple[str, ...] = ()
    cited: tuple[str, ...] = ()  # paper ids the answer cites
    citation_precision: float | None = None  # answered and cited only
    citation_recall: float | None = None  # answerable items with an answer
    invalid_citations: int = 0
    dropped_markers: int = 0
    unsupported_sentences: int = 0

    def recall_at(self, k: int) -> float | None:
        return self.recall_curve[k - 1] if 0 < k <= len(self.recall_curve) else None


def invalid_citations(answer: Answer) -> int:
    """[n] markers in the delivered text that name no retrieved paper cited under that n."""
    behind = {n: h.paper_id for n, h in enumerate(answer.hits, start=1)}
    valid = {c.n for c in answer.citations if behind.get(c.n) == c.paper_id}
    return sum(1 for n in marked_numbers(answer.text) if n not in valid)


def score_item(
    item: GoldItem, hits: Sequence[Hit], answer: Answer | None, depth: int, abstained: bool
) -> ItemScores:
    """`abstained`: the answerer's decision, or `retrieval_abstains` for a retrieval config."""
    ranked = [h.paper_id for h in hits][:depth]
    gold = item.gold_paper_ids
    ranking = {}
    if item.answerable:
        ranking = {
            "reciprocal_rank": reciprocal_rank(ranked, gold),
            "recall_curve": tuple(recall_at_k(ranked, gold, k) for k in range(1, depth + 1)),
            "capped_curve": tuple(capped_recall_at_k(ranked, gold, k) for k in range(1, depth + 1)),
            "ndcg": {k: ndcg_at_k(ranked, gold, k) for k in NDCG_KS if k <= depth},
        }
    if answer is None:
        return ItemScores(abstained, **ranking)
    cited = tuple(c.paper_id for c in answer.citations)
    scored = item.answerable
    return ItemScores(
        abstained,
        **ranking,
        must_include=must_include_score(answer.text, item.must_include),
        missed_terms=tuple(t for t in item.must_include if not contains_phrase(answer.text, t)),
        cited=cited,
        citation_precision=citation_precision(cited, gold) if scored and not abstained else None,
        citation_recall=citation_recall(cited, gold) if scored else None,
        invalid_citations=invalid_citations(answer),
        dropped_markers=len(answer.invalid_markers),
        unsupported_sentences=len(answer.unsupported),
    )


def retrieval_abstains(
    hits: Sequence[Hit], rule: AnswerSettings, sentence: Callable[[], float]
) -> bool:
    """The answerer's rule on a retrieval config's hits (a baseline without relevance: no)."""
    has_relevance = any(h.relevance is not None for h in hits)
    return not has_relevance or off_topic(hits, rule, sentence)


# -- results ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ItemResult:
    """What one config did with one gold item, and its scores."""

    item: GoldItem
    query: str
    hits: list[Hit]
    seconds: dict[str, float]
    scores: ItemScores
    answer: Answer | None = None
    faithfulness: float | None = None

    @property
    def ranked(self) -> list[str]:
        return [h.paper_id for h in self.hits]

    @property
    def relevance(self) -> float | None:
        """Best dense similarity among the hits: what the answerer abstains on."""
        return max((h.relevance for h in self.hits if h.relevance is not None), default=None)


def item_values(result: ItemResult) -> dict[str, float]:
    """The item's value of every reported metric that applies to it; a config's metric is
    the mean of these over its items (and its interval a bootstrap over them)."""
    s = result.scores
    values: dict[str, float] = {}
    if result.faithfulness is not None:
        values["faithfulness"] = result.faithfulness
    if not result.item.answerable:
        return {**values, "right_rate": float(s.abstained)}
    values["wrong_rate"] = float(s.abstained)
    values["mrr"] = s.reciprocal_rank or 0.0
    depth = len(s.recall_curve)
    values.update({f"recall@{k}": s.recall_curve[k - 1] for k in REPORT_KS if k <= depth})
    values.update({f"capped_recall@{k}": s.capped_curve[k - 1] for k in REPORT_KS if k <= depth})
    values.update({f"ndcg@{k}": v for k, v in s.ndcg.items()})
    if result.answer is None or s.must_include is None:
        return values
    values["must_include_accuracy"] = float(s.must_include == 1.0)
    values["must_include_share"] = s.must_include
    values["citation_recall"] = s.citation_recall or 0.0
    if not s.abstained:
        values["cited_share"] = float(bool(s.cited))
        if s.citation_precision is not None:
            values["citation_precision"] = s.citation_precision
    return values


@dataclass(slots=True)
class EvalRun:
    """Everything a summary needs."""

    configs: list[EvalConfig]
    items: list[GoldItem]
    results: dict[str, list[ItemResult]]
    depth: dict[str, int]  # papers ranked per question, per config
    abstention: AnswerSettings  # the thresholds retrieval-only configs abstain by
    gold_files: list[str]
    identity: dict[str, object]
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    gold_problems: list[str] = field(default_factory=list)  # what `gold-check` would report
    split: str = TEST  # the part of the gold files measured (gold.select_split)


# -- running ---------------------------------------------------------------------------------


def seed_everything(seed: int = SEED) -> None:
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:  # loaded with the embedder; never imported just for this
        sys.modules["torch"].manual_seed(seed)


def ensure_ingested(pipeline: Pipeline, papers: Sequence[Paper]) -> None:
    """Ingest the corpus when the config's collection lacks papers (new chunking/embedder)."""
    if pipeline.index.count_papers() >= len(papers):
        return
    log.info("collection %s is incomplete; ingesting the corpus", pipeline.index.collection)
    pipeline.ingestor.run(pipeline.settings.corpus.paths)


class Evaluator:
    """Runs configs over gold items on one pipeline (the embedded index admits one client)."""

    def __init__(
        self,
        pipeline: Pipeline,
        papers: Sequence[Paper],
        judge: Judge | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.papers = papers
        self.judge = judge
        self.progress = progress or (lambda _name, _total: None)
        self.total = 0

    def run(
        self, items: Sequence[GoldItem], configs: Sequence[EvalConfig], gold_files: Sequence[str]
    ) -> EvalRun:
        start = time.perf_counter()
        self.total = len(items) * len(configs)
        run = EvalRun(
            configs=list(configs),
            items=list(items),
            results={},
            depth={},
            abstention=self.pipeline.settings.answer,
            gold_files=list(gold_files),
            identity=self.pipeline.settings.index_identity(),
        )
        for config in configs:
            seed_everything()
            run.results[config.name], run.depth[config.name] = self._run_config(config, items)
        run.seconds = time.perf_counter() - start
        return run

    def _run_config(
        self, config: EvalConfig, items: Sequence[GoldItem]
    ) -> tuple[list[ItemResult], int]:
        settings = config.settings_for(self.pipeline.settings)
        pipeline = self.pipeline.derive(settings)
        ensure_ingested(pipeline, self.papers)
        if config.backend:
            answerer = pipeline.answerer(config.backend)
            depth = settings.retrieval.k
            return [self._answer(i, answerer, config, depth) for i in items], depth
        search = self._searcher(config, pipeline)
        return [self._retrieve(i, search, config) for i in items], RETRIEVAL_DEPTH

    def _searcher(self, config: EvalConfig, pipeline: Pipeline) -> Search:
        if config.retriever == "llamaindex":
            chunks = list(pipeline.chunker.split_all(self.papers))
            baseline = LlamaIndexBaseline(
                pipeline.client, pipeline.embedder, chunks, pipeline.index.collection
            )
            return baseline.search
        retriever = pipeline.retriever
        return lambda query, k: retriever.search(query, k=k, mode=config.retriever)

    def _retrieve(self, item: GoldItem, search: Search, config: EvalConfig) -> ItemResult:
        query = retrieval_query(item)
        started = time.perf_counter()
        hits = search(query, RETRIEVAL_DEPTH)
        seconds = {"retrieve": time.perf_counter() - started}
        embedder = self.pipeline.embedder
        abstained = retrieval_abstains(
            hits,
            self.pipeline.settings.answer,
            lambda: sentence_relevance(embedder, query, hits),
        )
        scores = score_item(item, hits, None, RETRIEVAL_DEPTH, abstained)
        self.progress(config.name, self.total)
        return ItemResult(item, query, hits, seconds, scores)

    def _answer(
        self, item: GoldItem, answerer: Answerer, config: EvalConfig, depth: int
    ) -> ItemResult:
        answer = answerer.answer(item.question, item.history)
        scores = score_item(item, answer.hits, answer, depth, answer.abstained)
        result = ItemResult(
            item, answer.question, answer.hits, dict(answer.timings), scores, answer
        )
        if self.judge and not answer.abstained and answer.text:
            result.faithfulness = self.judge.score(item.question, answer)
        self.progress(config.name, self.total)
        return result


# -- entry point -----------------------------------------------------------------------------


def evaluate(
    pipeline: Pipeline,
    gold_files: Sequence[Path],
    config_names: Sequence[str],
    limit: int | None = None,
    judge: Judge | None = None,
    progress: Progress | None = None,
    presets: dict[str, EvalConfig] | None = None,
    split: str = TEST,
) -> EvalRun:
    """Gold files x named configs over the pipeline's corpus and index.

    `split` picks the part of the gold files measured: `test` (held out from calibration,
    the default), `fit` (what thresholds are calibrated on) or `all`.
    """
    presets = presets if presets is not None else load_presets()
    configs = [make_config(name, presets) for name in config_names]
    papers, _ = load_papers(pipeline.settings.corpus.paths)
    items = load_gold(gold_files)
    problems = check_gold(items, papers)
    for problem in problems:
        log.warning("gold: %s", problem)
    items = sample(select_split(resolve(items, papers), split), limit)
    evaluator = Evaluator(pipeline, papers, judge, progress)
    run = evaluator.run(items, configs, [shown_path(f) for f in gold_files])
    run.gold_problems = problems
    run.split = split
    return run
