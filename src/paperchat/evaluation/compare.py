"""`paperchat eval compare RUN_A RUN_B`: what changed between two runs, and is it real?

Reads the per_item.jsonl of both run folders, pairs the configs (same names, or the only
config of each run), and for every metric, overall and per question type, reports B - A on
the items both runs scored, with a paired-bootstrap interval and p-value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paperchat.errors import ConfigError
from paperchat.evaluation.report import PER_ITEM_FILE
from paperchat.evaluation.stats import CONFIDENCE, RESAMPLES, SEED, Difference
from paperchat.evaluation.summary import (
    ABSTENTION_METRICS,
    ANSWER_METRICS,
    RETRIEVAL_METRICS,
    ItemValues,
    paired,
)

COMPARED = (*RETRIEVAL_METRICS, *ANSWER_METRICS, *ABSTENTION_METRICS)
Rows = dict[str, list[dict[str, Any]]]  # config -> per-item rows


def read_run(folder: Path) -> Rows:
    path = Path(folder) / PER_ITEM_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(
            f"{path} is missing: give a folder written by `paperchat eval` ({e.strerror})."
        ) from e
    rows: Rows = {}
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            rows.setdefault(row["config"], []).append(row)
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{path}:{number}: not a per-item row ({e}).") from e
    return rows


def pair_configs(a: Rows, b: Rows) -> list[tuple[str, str]]:
    common = [name for name in a if name in b]
    if common:
        return [(name, name) for name in common]
    if len(a) == 1 and len(b) == 1:
        return [(next(iter(a)), next(iter(b)))]
    raise ConfigError(
        f"The runs share no config (A: {', '.join(a)}; B: {', '.join(b)}): compare runs of "
        "the same configs, or runs of one config each."
    )


@dataclass(frozen=True, slots=True)
class Delta:
    config: str
    scope: str  # "all" or a question type
    metric: str
    mean_a: float
    mean_b: float
    difference: Difference


def _values(rows: Sequence[dict[str, Any]]) -> ItemValues:
    return {row["id"]: row.get("scores", {}) for row in rows}


def _mean(values: ItemValues, metric: str, ids: Sequence[str]) -> float:
    scored = [values[i][metric] for i in ids]
    return sum(scored) / len(scored)


def compare_runs(run_a: Path, run_b: Path) -> list[Delta]:
    a, b = read_run(run_a), read_run(run_b)
    deltas: list[Delta] = []
    for name_a, name_b in pair_configs(a, b):
        values_a, values_b = _values(a[name_a]), _values(b[name_b])
        types = {row["id"]: row["type"] for row in a[name_a]}
        label = name_a if name_a == name_b else f"{name_a} -> {name_b}"
        scopes = {"all": list(types), **_by_type(types)}
        for scope, ids in scopes.items():
            for metric in COMPARED:
                both = [
                    i
                    for i in ids
                    if metric in values_a.get(i, {}) and metric in values_b.get(i, {})
                ]
                diff = paired(values_a, values_b, metric, both)
                if diff is not None:
                    means = _mean(values_a, metric, both), _mean(values_b, metric, both)
                    deltas.append(Delta(label, scope, metric, *means, diff))
    return deltas


def _by_type(types: dict[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for item_id, item_type in types.items():
        grouped.setdefault(item_type, []).append(item_id)
    return grouped


def render_comparison(run_a: Path, run_b: Path, deltas: Sequence[Delta]) -> str:
    lines = [
        f"# Comparison: {run_b} vs {run_a}",
        "",
        f"B - A on the items both runs scored; {CONFIDENCE:.0%} paired bootstrap interval "
        f"({RESAMPLES} resamples, seed {SEED}); * = significant (interval excludes 0).",
        "",
    ]
    for config in dict.fromkeys(d.config for d in deltas):
        for scope in dict.fromkeys(d.scope for d in deltas if d.config == config):
            lines += [f"## {config}, {'all items' if scope == 'all' else scope}", ""]
            lines += [
                "| metric | n | A | B | B - A | interval | p |",
                "|---|---|---|---|---|---|---|",
            ]
            for d in deltas:
                if d.config == config and d.scope == scope:
                    diff = d.difference
                    mark = "*" if diff.significant else ""
                    lines.append(
                        f"| {d.metric} | {diff.n} | {d.mean_a:.3f} | {d.mean_b:.3f} | "
                        f"{diff.delta:+.3f}{mark} | [{diff.low:+.3f}, {diff.high:+.3f}] | "
                        f"{diff.p_value:.3f} |"
                    )
            lines.append("")
    return "\n".join(lines)
