"""Gold items x configs -> per-question results -> metrics.

A config is a retriever (hybrid, dense, sparse, or the LlamaIndex baseline) with optional
Settings overrides, named in eval/configs/presets.toml, plus an optional answer backend
(`hybrid+extractive`). Retrieval-only configs search each question (a follow-up with its last
user turn prepended); answer configs go through the Answerer with the conversation history.
Unanswerable items only count for abstention. Runs are deterministic: temperature 0, seeded.
"""

from __future__ import annotations

import logging
import random
import re
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from paperchat.answering import Answerer, off_topic
from paperchat.baseline import LlamaIndexBaseline
from paperchat.corpus import load_papers
from paperchat.errors import ConfigError
from paperchat.gold import (
    FOLLOW_UP,
    TEST,
    GoldItem,
    check_gold,
    load_gold,
    resolve,
    select_split,
)
from paperchat.judge import Judge
from paperchat.metrics import (
    abstention_stats,
    citation_precision,
    citation_recall,
    latency_summary,
    mean,
    mrr,
    must_include_score,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
)
from paperchat.pipeline import Pipeline
from paperchat.records import Answer, Hit, Paper
from paperchat.settings import REPO_ROOT, AnswerSettings, Settings

log = logging.getLogger(__name__)

EVAL_DIR = REPO_ROOT / "eval"
GOLD_FILE = EVAL_DIR / "gold" / "papers.jsonl"
PRESETS_FILE = EVAL_DIR / "configs" / "presets.toml"
REPORTS_DIR = EVAL_DIR / "reports"
RETRIEVERS = ("hybrid", "dense", "sparse", "llamaindex")
BACKENDS = ("extractive", "local", "vllm")
RETRIEVAL_DEPTH = 10  # papers ranked per question by retrieval-only configs
REPORT_KS = (1, 3, 5, 10)
SEED = 0

Search = Callable[[str, int], list[Hit]]
Progress = Callable[[str, int], None]  # (config that just finished a question, total steps)


# -- configs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """What one column of the report measures."""

    name: str
    retriever: str
    backend: str | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""

    def settings_for(self, base: Settings) -> Settings:
        """The base settings with this config's overrides, answering deterministically."""
        overrides = {section: dict(values) for section, values in self.overrides.items()}
        if self.retriever in ("hybrid", "dense", "sparse"):
            overrides.setdefault("retrieval", {})["mode"] = self.retriever
        overrides.setdefault("llm", {}).update(temperature=0.0, seed=SEED)
        return apply_overrides(base, overrides, self.name)


def apply_overrides(base: Settings, overrides: dict[str, dict[str, Any]], name: str) -> Settings:
    """Settings with some fields of some sections replaced, validated like the originals."""
    update: dict[str, Any] = {}
    for section, values in overrides.items():
        current = getattr(base, section, None)
        if not isinstance(current, BaseModel) or not isinstance(values, dict):
            raise ConfigError(f"config {name!r}: unknown settings section {section!r}.")
        try:
            update[section] = type(current).model_validate({**current.model_dump(), **values})
        except ValidationError as e:
            raise ConfigError(f"config {name!r}: bad [{section}] override: {e}") from e
    return base.model_copy(update=update)


def load_presets(path: Path = PRESETS_FILE) -> dict[str, EvalConfig]:
    """The named retrieval presets of a TOML file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the eval presets ({e}).") from e
    presets: dict[str, EvalConfig] = {}
    for name, table in raw.items():
        retriever = table.get("retriever")
        if retriever not in RETRIEVERS:
            raise ConfigError(
                f"{path}: preset {name!r} has retriever {retriever!r}; "
                f"allowed: {', '.join(RETRIEVERS)}."
            )
        presets[name] = EvalConfig(
            name=name,
            retriever=retriever,
            overrides=table.get("settings", {}),
            description=table.get("description", ""),
        )
    return presets


def make_config(name: str, presets: dict[str, EvalConfig]) -> EvalConfig:
    """`preset` or `preset+backend` -> EvalConfig."""
    base_name, _, backend = name.partition("+")
    if base_name not in presets:
        raise ConfigError(
            f"Unknown eval config {base_name!r}; presets: {', '.join(presets)} "
            f"(optionally +{'/+'.join(BACKENDS)}), defined in {PRESETS_FILE}."
        )
    preset = presets[base_name]
    if not backend:
        return preset
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown answer backend {backend!r}; allowed: {', '.join(BACKENDS)}.")
    if preset.retriever == "llamaindex":
        raise ConfigError("The llamaindex baseline is retrieval-only; drop the +backend.")
    return EvalConfig(name, preset.retriever, backend, preset.overrides, preset.description)


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


# -- results ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ItemResult:
    """What one config did with one gold item."""

    item: GoldItem
    query: str
    hits: list[Hit]
    seconds: dict[str, float]
    answer: Answer | None = None
    faithfulness: float | None = None

    @property
    def ranked(self) -> list[str]:
        return [h.paper_id for h in self.hits]

    @property
    def relevance(self) -> float | None:
        """Best dense similarity among the hits: what the answerer abstains on."""
        return max((h.relevance for h in self.hits if h.relevance is not None), default=None)


@dataclass(slots=True)
class EvalRun:
    """Everything a report needs."""

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
            return [self._answer(i, answerer, config) for i in items], settings.retrieval.k
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
        result = ItemResult(item, query, hits, {"retrieve": time.perf_counter() - started})
        self.progress(config.name, self.total)
        return result

    def _answer(self, item: GoldItem, answerer: Answerer, config: EvalConfig) -> ItemResult:
        answer = answerer.answer(item.question, item.history)
        result = ItemResult(item, answer.question, answer.hits, dict(answer.timings), answer)
        if self.judge and not answer.abstained and answer.text:
            result.faithfulness = self.judge.score(item.question, answer)
        self.progress(config.name, self.total)
        return result


# -- metrics ---------------------------------------------------------------------------------


def retrieval_stats(results: Sequence[ItemResult], depth: int) -> dict[str, Any]:
    """Recall@k, MRR and nDCG over the answerable items; unanswerable ones have no gold."""
    scored = [r for r in results if r.item.answerable]
    if not scored:
        return {"n": 0}
    rankings = [r.ranked[:depth] for r in scored]
    golds = [r.item.gold_paper_ids for r in scored]

    def recall(k: int) -> float:
        return mean(recall_at_k(r, g, k) for r, g in zip(rankings, golds, strict=True))

    stats: dict[str, Any] = {"n": len(scored)}
    stats.update({f"recall@{k}": recall(k) for k in REPORT_KS if k <= depth})
    stats["mrr"] = mrr(rankings, golds)
    for k in (5, 10):
        if k <= depth:
            stats[f"ndcg@{k}"] = mean(
                ndcg_at_k(r, g, k) for r, g in zip(rankings, golds, strict=True)
            )
    stats["curve"] = [recall(k) for k in range(1, depth + 1)]
    return stats


def abstained(result: ItemResult, settings: AnswerSettings) -> bool:
    """The answerer's decision, or for retrieval-only configs the same rule on their hits."""
    if result.answer is not None:
        return result.answer.abstained
    return result.relevance is None or off_topic(result.hits, settings)


def answer_stats(results: Sequence[ItemResult]) -> dict[str, Any] | None:
    if not any(r.answer for r in results):
        return None
    answerable = [r for r in results if r.item.answerable and r.answer]
    answered = [r for r in answerable if r.answer and not r.answer.abstained]
    must = [must_include_score(_text(r), r.item.must_include) for r in answerable]
    judged = [r.faithfulness for r in results if r.faithfulness is not None]
    return {
        "n": len(answerable),
        "answered": len(answered),
        "declined_wrongly": len(answerable) - len(answered),
        "must_include_accuracy": mean(float(s == 1.0) for s in must),
        "must_include_share": mean(must),
        "citation_precision": mean(
            citation_precision(_cited(r), r.item.gold_paper_ids) for r in answered
        ),
        "citation_recall": mean(
            citation_recall(_cited(r), r.item.gold_paper_ids) for r in answerable
        ),
        "cited_share": mean(float(bool(_cited(r))) for r in answered),
        "invalid_citations": sum(invalid_citations(r.answer) for r in results if r.answer),
        "dropped_markers": sum(len(r.answer.invalid_markers) for r in results if r.answer),
        "unsupported_sentences": sum(len(r.answer.unsupported) for r in results if r.answer),
        "faithfulness": mean(judged) if judged else None,
        "judged": len(judged),
    }


def shown_path(path: Path) -> str:
    """A path as a report shows it: relative to the working folder when inside it, so a
    committed report does not carry one machine's folders."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def invalid_citations(answer: Answer) -> int:
    """[n] markers in the delivered text that name no retrieved paper cited under that n."""
    behind = {n: h.paper_id for n, h in enumerate(answer.hits, start=1)}
    valid = {c.n for c in answer.citations if behind.get(c.n) == c.paper_id}
    return sum(1 for n in re.findall(r"\[(\d+)\]", answer.text) if int(n) not in valid)


def _text(result: ItemResult) -> str:
    return result.answer.text if result.answer else ""


def _cited(result: ItemResult) -> list[str]:
    return [c.paper_id for c in result.answer.citations] if result.answer else []


def latency_stats(results: Sequence[ItemResult]) -> dict[str, Any]:
    stages: dict[str, list[float]] = {}
    for r in results:
        for stage, seconds in r.seconds.items():
            stages.setdefault(stage, []).append(seconds)
    stats: dict[str, Any] = {stage: latency_summary(v) for stage, v in stages.items()}
    generated = [r for r in results if r.answer and r.answer.usage.get("completion_tokens")]
    seconds = sum(r.seconds.get("generate", 0.0) for r in generated)
    tokens = sum(r.answer.usage["completion_tokens"] for r in generated if r.answer)
    stats["tokens_per_s"] = tokens / seconds if seconds > 0 else None
    return stats


def config_summary(run: EvalRun, config: EvalConfig) -> dict[str, Any]:
    results = run.results[config.name]
    depth = run.depth[config.name]
    types = list(dict.fromkeys(r.item.type for r in results if r.item.answerable))
    return {
        "description": config.description,
        "retriever": config.retriever,
        "backend": config.backend,
        "overrides": config.overrides,
        "depth": depth,
        "retrieval": {
            "overall": retrieval_stats(results, depth),
            "by_type": {
                t: retrieval_stats([r for r in results if r.item.type == t], depth) for t in types
            },
        },
        "abstention": {
            "decided_by": "answerer" if config.backend else "relevance and coverage",
            **abstention_stats(
                (r.item.answerable, abstained(r, run.abstention)) for r in results
            ).to_dict(),
        },
        "answers": answer_stats(results),
        "answers_by_type": {
            t: answer_stats([r for r in results if r.item.type == t]) for t in types
        }
        if config.backend
        else None,
        "latency": latency_stats(results),
    }


def question_records(run: EvalRun) -> list[dict[str, Any]]:
    """One row per (config, item): enough to see what went wrong without re-running."""
    rows: list[dict[str, Any]] = []
    for config in run.configs:
        for r in run.results[config.name]:
            gold = r.item.gold_paper_ids
            row: dict[str, Any] = {
                "config": config.name,
                "id": r.item.id,
                "type": r.item.type,
                "query": r.query,
                "gold": list(gold),
                "retrieved": r.ranked,
                "reciprocal_rank": reciprocal_rank(r.ranked, gold) if gold else None,
                "recall@5": recall_at_k(r.ranked, gold, 5) if gold else None,
                "relevance": r.relevance,
                "abstained": abstained(r, run.abstention),
                "seconds": r.seconds,
            }
            if r.answer is not None:
                row["answer"] = r.answer.text
                row["cited"] = _cited(r)
                row["must_include"] = must_include_score(r.answer.text, r.item.must_include)
                row["faithfulness"] = r.faithfulness
            rows.append(row)
    return rows


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
