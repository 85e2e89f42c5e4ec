"""`paperchat eval --fail-under R@5=0.95,citation_precision=0.9`: a report as a CI gate.

A floor applies to the point estimate of a metric in every config that reports it; the run
exits non-zero when one is below its floor.
"""

from __future__ import annotations

import re

from paperchat.errors import ConfigError
from paperchat.evaluation.summary import (
    ABSTENTION_METRICS,
    ANSWER_METRICS,
    CAPPED_METRICS,
    LOWER_IS_BETTER,
    RETRIEVAL_METRICS,
    EvalSummary,
)

GATED = (*RETRIEVAL_METRICS, *CAPPED_METRICS, *ANSWER_METRICS, *ABSTENTION_METRICS)
_SHORT = re.compile(r"^r@(\d+)$")


def metric_name(name: str) -> str:
    """The metric a floor names: R@5 -> recall@5, MRR -> mrr, nDCG@10 -> ndcg@10."""
    key = name.strip().lower()
    if short := _SHORT.match(key):
        key = f"recall@{short.group(1)}"
    if key not in GATED:
        raise ConfigError(f"--fail-under: unknown metric {name!r}; allowed: {', '.join(GATED)}.")
    return key


def parse_floors(spec: str) -> dict[str, float]:
    """`R@5=0.95,citation_precision=0.9` -> {"recall@5": 0.95, "citation_precision": 0.9}."""
    floors: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        try:
            floor = float(value)
        except ValueError:
            floor = None
        if not sep or floor is None:
            raise ConfigError(f"--fail-under: {part!r} is not METRIC=NUMBER (e.g. R@5=0.95).")
        floors[metric_name(name)] = floor
    return floors


def failures(summary: EvalSummary, floors: dict[str, float]) -> list[str]:
    """One line per (config, metric) below its floor (above it, for wrong_rate)."""
    found: list[str] = []
    for metric, floor in floors.items():
        reported = {n: c.get(metric) for n, c in summary.configs.items()}
        reported = {n: v for n, v in reported.items() if v is not None}
        if not reported:
            found.append(f"{metric}: no config of this run reports it")
        for name, value in reported.items():
            below = value > floor if metric in LOWER_IS_BETTER else value < floor
            if below:
                sign = ">" if metric in LOWER_IS_BETTER else "<"
                found.append(f"{name}: {metric} {value:.3f} {sign} {floor:g}")
    return found
