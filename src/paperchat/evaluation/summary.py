"""An EvalRun -> a typed EvalSummary: aggregates of the per-item scores the runner computed.

Nothing here scores an item or calls back into the runner: the report renders a summary, the
CLI prints one, and metrics.json is its `to_dict()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from paperchat.evaluation.configs import EvalConfig
from paperchat.evaluation.metrics import AbstentionStats, abstention_stats, latency_summary, mean
from paperchat.evaluation.runner import EvalRun, ItemResult

REPORT_KS = (1, 3, 5, 10)
RETRIEVAL_METRICS = ("recall@1", "recall@3", "recall@5", "recall@10", "mrr", "ndcg@5", "ndcg@10")
ANSWER_METRICS = (
    "must_include_accuracy",
    "must_include_share",
    "citation_precision",
    "citation_recall",
    "cited_share",
    "faithfulness",
)
ABSTENTION_METRICS = ("right_rate", "wrong_rate")
LOWER_IS_BETTER = frozenset(
    {"wrong_rate", "invalid_citations", "dropped_markers", "unsupported_sentences"}
)
THRESHOLDS = ("abstain_threshold", "coverage_threshold", "coverage_relevance")


# -- per config ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetrievalStats:
    """Ranking quality over the answerable items of a config (or of one question type)."""

    n: int
    values: dict[str, float] = field(default_factory=dict)  # recall@k, mrr, ndcg@k
    curve: tuple[float, ...] = ()  # recall@1..depth

    def get(self, metric: str) -> float | None:
        return self.values.get(metric)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, **self.values, "curve": list(self.curve)} if self.n else {"n": 0}


def retrieval_stats(results: Sequence[ItemResult], depth: int) -> RetrievalStats:
    scored = [r.scores for r in results if r.item.answerable]
    if not scored:
        return RetrievalStats(0)
    curve = tuple(mean(s.recall_at(k) for s in scored) for k in range(1, depth + 1))
    values = {f"recall@{k}": curve[k - 1] for k in REPORT_KS if k <= depth}
    values["mrr"] = mean(s.reciprocal_rank for s in scored)
    values.update({f"ndcg@{k}": mean(s.ndcg[k] for s in scored) for k in (5, 10) if k <= depth})
    return RetrievalStats(len(scored), values, curve)


@dataclass(frozen=True, slots=True)
class AnswerStats:
    """Answer quality over the answerable items; counts of citation problems over all."""

    n: int
    answered: int
    must_include_accuracy: float
    must_include_share: float
    citation_precision: float
    citation_recall: float
    cited_share: float
    invalid_citations: int
    dropped_markers: int
    unsupported_sentences: int
    faithfulness: float | None
    judged: int

    def get(self, metric: str) -> float | None:
        value = getattr(self, metric, None)
        return float(value) if isinstance(value, int | float) else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def answer_stats(results: Sequence[ItemResult]) -> AnswerStats | None:
    if not any(r.answer for r in results):
        return None
    answered_all = [r for r in results if r.answer]
    answerable = [r.scores for r in answered_all if r.item.answerable]
    answered = [s for s in answerable if not s.abstained]
    judged = [r.faithfulness for r in results if r.faithfulness is not None]
    return AnswerStats(
        n=len(answerable),
        answered=len(answered),
        must_include_accuracy=mean(float(s.must_include == 1.0) for s in answerable),
        must_include_share=mean(s.must_include for s in answerable),
        citation_precision=mean(s.citation_precision for s in answered),
        citation_recall=mean(s.citation_recall for s in answerable),
        cited_share=mean(float(bool(s.cited)) for s in answered),
        invalid_citations=sum(r.scores.invalid_citations for r in answered_all),
        dropped_markers=sum(r.scores.dropped_markers for r in answered_all),
        unsupported_sentences=sum(r.scores.unsupported_sentences for r in answered_all),
        faithfulness=mean(judged) if judged else None,
        judged=len(judged),
    )


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


@dataclass(frozen=True, slots=True)
class ConfigSummary:
    """Everything measured for one config."""

    config: EvalConfig
    depth: int
    retrieval: RetrievalStats
    retrieval_by_type: dict[str, RetrievalStats]
    abstention: AbstentionStats
    answers: AnswerStats | None
    answers_by_type: dict[str, AnswerStats | None] | None
    latency: dict[str, Any]

    @property
    def decided_by(self) -> str:
        return "answerer" if self.config.backend else "relevance and coverage"

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        by_type = self.answers_by_type
        return {
            "description": c.description,
            "retriever": c.retriever,
            "backend": c.backend,
            "overrides": c.overrides,
            "depth": self.depth,
            "retrieval": {
                "overall": self.retrieval.to_dict(),
                "by_type": {t: s.to_dict() for t, s in self.retrieval_by_type.items()},
            },
            "abstention": {"decided_by": self.decided_by, **self.abstention.to_dict()},
            "answers": self.answers.to_dict() if self.answers else None,
            "answers_by_type": {t: a.to_dict() if a else None for t, a in by_type.items()}
            if by_type is not None
            else None,
            "latency": self.latency,
        }


def config_summary(config: EvalConfig, results: Sequence[ItemResult], depth: int) -> ConfigSummary:
    types = list(dict.fromkeys(r.item.type for r in results if r.item.answerable))
    of_type = {t: [r for r in results if r.item.type == t] for t in types}
    return ConfigSummary(
        config=config,
        depth=depth,
        retrieval=retrieval_stats(results, depth),
        retrieval_by_type={t: retrieval_stats(rs, depth) for t, rs in of_type.items()},
        abstention=abstention_stats((r.item.answerable, r.scores.abstained) for r in results),
        answers=answer_stats(results),
        answers_by_type={t: answer_stats(rs) for t, rs in of_type.items()}
        if config.backend
        else None,
        latency=latency_stats(results),
    )


# -- per item --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One (config, item) row: what was asked, expected, retrieved, answered, and its scores."""

    config: str
    result: ItemResult

    def question_row(self) -> dict[str, Any]:
        """The row of metrics.json's `questions`: enough to see what went wrong."""
        r, s = self.result, self.result.scores
        gold = r.item.gold_paper_ids
        row: dict[str, Any] = {
            "config": self.config,
            "id": r.item.id,
            "type": r.item.type,
            "query": r.query,
            "gold": list(gold),
            "retrieved": r.ranked,
            "reciprocal_rank": s.reciprocal_rank,
            "recall@5": s.recall_at(5) if gold else None,
            "relevance": r.relevance,
            "abstained": s.abstained,
            "seconds": r.seconds,
        }
        if r.answer is not None:
            row["answer"] = r.answer.text
            row["cited"] = list(s.cited)
            row["must_include"] = s.must_include
            row["faithfulness"] = r.faithfulness
        return row

    def badness(self) -> tuple[float, float, float]:
        """Gold ranked low or missed first, then answers missing terms; (1, 1, 1) = perfect."""
        s = self.result.scores
        curve_end = s.recall_curve[-1] if s.recall_curve else 0.0
        must = s.must_include if s.must_include is not None else 1.0
        return (s.reciprocal_rank or 0.0, curve_end, must)


# -- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemCounts:
    total: int
    answerable: int
    by_type: dict[str, int]


@dataclass(frozen=True, slots=True)
class EvalSummary:
    """Everything a report, the CLI or metrics.json shows about a run."""

    name: str
    created: str
    command: str
    seconds: float
    gold_files: list[str]
    items: ItemCounts
    index: dict[str, object]
    thresholds: dict[str, float]
    configs: dict[str, ConfigSummary]
    records: list[ItemRecord]
    gold_problems: list[str]

    @property
    def winners(self) -> dict[str, Any]:
        return winners(self.configs)

    def primary_config(self) -> str:
        """The config whose failures are worth reading: the first answer config, else best MRR."""
        answering = [n for n, c in self.configs.items() if c.config.backend]
        if answering:
            return answering[0]
        return max(self.configs, key=lambda n: self.configs[n].retrieval.get("mrr") or 0.0)

    def worst(self, config: str, n: int) -> list[ItemRecord]:
        """Imperfect answerable items of a config, worst first."""
        mine = [r for r in self.records if r.config == config and r.result.item.answerable]
        imperfect = [r for r in mine if r.badness() != (1.0, 1.0, 1.0)]
        return sorted(imperfect, key=ItemRecord.badness)[:n]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created": self.created,
            "command": self.command,
            "seconds": self.seconds,
            "gold_files": self.gold_files,
            "items": asdict(self.items),
            "index": self.index,
            "abstention_thresholds": self.thresholds,
            "configs": {n: c.to_dict() for n, c in self.configs.items()},
            "winners": self.winners,
            "questions": [r.question_row() for r in self.records],
        }


def summarise(run: EvalRun, name: str, command: str = "") -> EvalSummary:
    by_type: dict[str, int] = {}
    for item in run.items:
        by_type[item.type] = by_type.get(item.type, 0) + 1
    answerable = sum(item.answerable for item in run.items)
    return EvalSummary(
        name=name,
        created=datetime.fromtimestamp(run.started).isoformat(timespec="seconds"),
        command=command,
        seconds=round(run.seconds, 1),
        gold_files=run.gold_files,
        items=ItemCounts(len(run.items), answerable, by_type),
        index=run.identity,
        thresholds={t: getattr(run.abstention, t) for t in THRESHOLDS},
        configs={
            c.name: config_summary(c, run.results[c.name], run.depth[c.name]) for c in run.configs
        },
        records=[ItemRecord(c.name, r) for c in run.configs for r in run.results[c.name]],
        gold_problems=run.gold_problems,
    )


# -- who wins --------------------------------------------------------------------------------


def best(values: Mapping[str, float | None], lower: bool = False) -> list[str]:
    """The configs tied for the best defined value; none when fewer than two compete."""
    defined = {name: v for name, v in values.items() if v is not None}
    if len(defined) < 2:
        return []
    top = min(defined.values()) if lower else max(defined.values())
    return [name for name, v in defined.items() if abs(v - top) < 1e-9]


def question_types(configs: Mapping[str, ConfigSummary]) -> list[str]:
    return list(dict.fromkeys(t for c in configs.values() for t in c.retrieval_by_type))


def _by_type(c: ConfigSummary, t: str, metric: str) -> float | None:
    stats = c.retrieval_by_type.get(t)
    return stats.get(metric) if stats else None


def winners(configs: Mapping[str, ConfigSummary]) -> dict[str, Any]:
    answered = {n: c.answers for n, c in configs.items() if c.answers}
    return {
        "retrieval": {
            m: best({n: c.retrieval.get(m) for n, c in configs.items()}) for m in RETRIEVAL_METRICS
        },
        "mrr_by_type": {
            t: best({n: _by_type(c, t, "mrr") for n, c in configs.items()})
            for t in question_types(configs)
        },
        "answers": {m: best({n: a.get(m) for n, a in answered.items()}) for m in ANSWER_METRICS},
        "abstention": {
            m: best(
                {n: getattr(c.abstention, m) for n, c in configs.items()},
                lower=m in LOWER_IS_BETTER,
            )
            for m in ABSTENTION_METRICS
        },
    }
