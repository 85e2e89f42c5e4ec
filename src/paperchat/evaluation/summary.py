"""An EvalRun -> a typed EvalSummary: aggregates of the per-item scores the runner computed.

Every metric is the mean of per-item values (`runner.item_values`) with a bootstrap 95%
interval (`stats`); "who wins" only names a config that beats every other one by a
significant paired difference. Nothing here scores an item or calls back into the runner:
the report renders a summary, the CLI prints one, and metrics.json is its `to_dict()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from paperchat.evaluation.configs import EvalConfig
from paperchat.evaluation.metrics import AbstentionStats, abstention_stats, latency_summary
from paperchat.evaluation.runner import REPORT_KS, EvalRun, ItemResult, item_values
from paperchat.evaluation.stats import (
    CONFIDENCE,
    RESAMPLES,
    SEED,
    Difference,
    Estimate,
    bootstrap,
    paired_difference,
)

RETRIEVAL_METRICS = tuple(
    [f"recall@{k}" for k in REPORT_KS] + ["mrr", "ndcg@5", "ndcg@10"]
)  # standard definitions
CAPPED_METRICS = tuple(f"capped_recall@{k}" for k in REPORT_KS)
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
THRESHOLDS = (
    "abstain_threshold",
    "coverage_threshold",
    "coverage_relevance",
    "coverage_min_relevance",
)

ItemValues = dict[str, dict[str, float]]  # item id -> metric -> value


# -- sets of metrics -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricSet:
    """Means with intervals over some items of one config (all of them, or one type)."""

    n: int
    estimates: dict[str, Estimate] = field(default_factory=dict)

    def get(self, metric: str) -> float | None:
        estimate = self.estimates.get(metric)
        return estimate.value if estimate else None

    def interval(self, metric: str) -> Estimate | None:
        return self.estimates.get(metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            **{m: e.value for m, e in self.estimates.items()},
            "intervals": {m: [e.low, e.high] for m, e in self.estimates.items()},
        }


def metric_set(values: Sequence[dict[str, float]], metrics: Sequence[str], n: int) -> MetricSet:
    estimates = {}
    for metric in metrics:
        estimate = bootstrap([v[metric] for v in values if metric in v])
        if estimate is not None:
            estimates[metric] = estimate
    return MetricSet(n, estimates)


@dataclass(frozen=True, slots=True)
class AnswerCounts:
    answered: int
    invalid_citations: int
    dropped_markers: int
    unsupported_sentences: int
    judged: int
    tentative: int = 0  # answerable items answered, worded as tentative
    unanswerable_answered: int = 0
    unanswerable_tentative: int = 0  # ... of those, worded as tentative


def answer_counts(results: Sequence[ItemResult]) -> AnswerCounts:
    with_answer = [r for r in results if r.answer]
    return AnswerCounts(
        answered=sum(1 for r in with_answer if r.item.answerable and not r.scores.abstained),
        invalid_citations=sum(r.scores.invalid_citations for r in with_answer),
        dropped_markers=sum(r.scores.dropped_markers for r in with_answer),
        unsupported_sentences=sum(r.scores.unsupported_sentences for r in with_answer),
        judged=sum(1 for r in results if r.faithfulness is not None),
        tentative=sum(1 for r in with_answer if r.item.answerable and r.answer.tentative),
        unanswerable_answered=sum(
            1 for r in with_answer if not r.item.answerable and not r.scores.abstained
        ),
        unanswerable_tentative=sum(
            1 for r in with_answer if not r.item.answerable and r.answer.tentative
        ),
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


# -- per config ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigSummary:
    """Everything measured for one config."""

    config: EvalConfig
    depth: int
    retrieval: MetricSet
    retrieval_by_type: dict[str, MetricSet]
    curve: tuple[float, ...]  # standard recall@1..depth
    abstention: AbstentionStats
    abstention_rates: MetricSet
    answers: MetricSet | None
    answers_by_type: dict[str, MetricSet] | None
    counts: AnswerCounts | None
    latency: dict[str, Any]
    item_values: ItemValues  # for paired comparisons between configs

    @property
    def decided_by(self) -> str:
        return "answerer" if self.config.backend else "relevance, coverage, sentence"

    def get(self, metric: str) -> float | None:
        """A metric's point estimate, from whichever set reports it."""
        for group in (self.retrieval, self.abstention_rates, self.answers):
            if group is not None and metric in group.estimates:
                return group.get(metric)
        return None

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        answers = None
        if self.answers is not None and self.counts is not None:
            # Every answer metric is present; None when no item had a value (no judge).
            answers = {
                **dict.fromkeys(ANSWER_METRICS),
                **self.answers.to_dict(),
                **asdict(self.counts),
            }
        by_type = self.answers_by_type
        return {
            "description": c.description,
            "retriever": c.retriever,
            "backend": c.backend,
            "overrides": c.overrides,
            "depth": self.depth,
            "retrieval": {
                "overall": {**self.retrieval.to_dict(), "curve": list(self.curve)},
                "by_type": {t: s.to_dict() for t, s in self.retrieval_by_type.items()},
            },
            "abstention": {
                "decided_by": self.decided_by,
                **self.abstention.to_dict(),
                "intervals": self.abstention_rates.to_dict()["intervals"],
            },
            "answers": answers,
            "answers_by_type": {t: a.to_dict() for t, a in by_type.items()}
            if by_type is not None
            else None,
            "latency": self.latency,
        }


def config_summary(config: EvalConfig, results: Sequence[ItemResult], depth: int) -> ConfigSummary:
    values = {r.item.id: item_values(r) for r in results}
    answerable = [r for r in results if r.item.answerable]
    types = list(dict.fromkeys(r.item.type for r in answerable))
    of_type = {t: [values[r.item.id] for r in answerable if r.item.type == t] for t in types}
    scored = [values[r.item.id] for r in answerable]
    retrieval_metrics = (*RETRIEVAL_METRICS, *CAPPED_METRICS)
    answered = any(r.answer for r in results)
    answer_n = sum(1 for r in answerable if r.answer)
    curve = (
        tuple(
            sum(r.scores.recall_curve[k] for r in answerable) / len(answerable)
            for k in range(depth)
        )
        if answerable
        else ()
    )
    return ConfigSummary(
        config=config,
        depth=depth,
        retrieval=metric_set(scored, retrieval_metrics, len(scored)),
        retrieval_by_type={t: metric_set(v, retrieval_metrics, len(v)) for t, v in of_type.items()},
        curve=curve,
        abstention=abstention_stats((r.item.answerable, r.scores.abstained) for r in results),
        abstention_rates=metric_set(list(values.values()), ABSTENTION_METRICS, len(results)),
        answers=metric_set(list(values.values()), ANSWER_METRICS, answer_n) if answered else None,
        answers_by_type={
            t: metric_set(v, (*ANSWER_METRICS, "wrong_rate"), len(v)) for t, v in of_type.items()
        }
        if config.backend
        else None,
        counts=answer_counts(results) if answered else None,
        latency=latency_stats(results),
        item_values=values,
    )


# -- per item --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One (config, item) row: what was asked, expected, retrieved, answered, and its scores."""

    config: str
    result: ItemResult

    def to_dict(self) -> dict[str, Any]:
        """A line of per_item.jsonl (and of metrics.json's `questions`)."""
        r, s = self.result, self.result.scores
        item = r.item
        row: dict[str, Any] = {
            "config": self.config,
            "id": item.id,
            "type": item.type,
            "question": item.question,
            "query": r.query,
            "gold_answer": item.answer,
            "gold": list(item.gold_paper_ids),
            "gold_titles": list(item.gold_titles),
            "must_include": list(item.must_include),
            "retrieved": r.ranked,
            "retrieved_titles": [h.title for h in r.hits],
            "relevance": r.relevance,
            "abstained": s.abstained,
            "scores": item_values(r),
            "seconds": r.seconds,
        }
        if r.answer is not None:
            row["answer"] = r.answer.text
            row["citations"] = [
                {"n": c.n, "paper_id": c.paper_id, "title": c.title} for c in r.answer.citations
            ]
            row["tentative"] = r.answer.tentative
            row["missed_terms"] = list(s.missed_terms)
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
    split: str
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
            "split": self.split,
            "items": asdict(self.items),
            "index": self.index,
            "abstention_thresholds": self.thresholds,
            "bootstrap": {"resamples": RESAMPLES, "seed": SEED, "confidence": CONFIDENCE},
            "configs": {n: c.to_dict() for n, c in self.configs.items()},
            "winners": self.winners,
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
        split=run.split,
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


def paired(
    a: ItemValues, b: ItemValues, metric: str, ids: Sequence[str] | None = None
) -> Difference | None:
    """b - a on the items both scored for `metric` (optionally only `ids`)."""
    common = [i for i in (ids if ids is not None else a) if metric in a.get(i, {})]
    common = [i for i in common if metric in b.get(i, {})]
    return paired_difference([a[i][metric] for i in common], [b[i][metric] for i in common])


def significant_best(
    values: Mapping[str, ItemValues], metric: str, ids: Sequence[str] | None = None
) -> list[str]:
    """The config whose mean is best and significantly better than every other's; else none."""
    lower = metric in LOWER_IS_BETTER
    means = {}
    for name, items in values.items():
        scored = [v[metric] for i, v in items.items() if metric in v and (ids is None or i in ids)]
        if scored:
            means[name] = sum(scored) / len(scored)
    if len(means) < 2:
        return []
    top = (min if lower else max)(means, key=means.__getitem__)
    for other in means:
        if other == top:
            continue
        diff = paired(values[other], values[top], metric, ids)
        if diff is None or not diff.significant or (diff.delta < 0) != lower:
            return []
    return [top]


def question_types(configs: Mapping[str, ConfigSummary]) -> list[str]:
    return list(dict.fromkeys(t for c in configs.values() for t in c.retrieval_by_type))


def type_ids(summary_records: Sequence[ItemRecord], item_type: str) -> list[str]:
    return list(
        dict.fromkeys(r.result.item.id for r in summary_records if r.result.item.type == item_type)
    )


def winners(configs: Mapping[str, ConfigSummary]) -> dict[str, Any]:
    values = {n: c.item_values for n, c in configs.items()}
    answered = {n: c.item_values for n, c in configs.items() if c.answers}
    return {
        "retrieval": {m: significant_best(values, m) for m in RETRIEVAL_METRICS},
        "answers": {m: significant_best(answered, m) for m in ANSWER_METRICS},
        "abstention": {m: significant_best(values, m) for m in ABSTENTION_METRICS},
    }
