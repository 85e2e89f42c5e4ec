"""An EvalSummary -> a report folder: metrics.json, per_item.jsonl, report.md and PNG charts.

Renders only. The folder is eval/reports/<YYYY-MM-DD>-<name>/ unless another is given. Every
value shows its bootstrap 95% interval; a value is bold only when it is significantly better
(paired bootstrap) than every other config's on the same items. The worst questions of the
primary config show the gold answer, the missed must_include terms and what was retrieved.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from paperchat.evaluation.configs import REPORTS_DIR
from paperchat.evaluation.runner import ItemResult
from paperchat.evaluation.stats import CONFIDENCE, RESAMPLES, SEED, Estimate
from paperchat.evaluation.summary import (
    ANSWER_METRICS,
    RETRIEVAL_METRICS,
    ConfigSummary,
    EvalSummary,
    MetricSet,
    significant_best,
    type_ids,
)

log = logging.getLogger(__name__)

ANSWER_LABELS = {
    "must_include_accuracy": "must_include acc.",
    "must_include_share": "must_include share",
    "citation_precision": "citation P",
    "citation_recall": "citation R",
    "cited_share": ">=1 citation",
    "faithfulness": "faithfulness (judge)",
}
LABELS = {
    "recall@1": "R@1",
    "recall@3": "R@3",
    "recall@5": "R@5",
    "recall@10": "R@10",
    "mrr": "MRR",
    "ndcg@5": "nDCG@5",
    "ndcg@10": "nDCG@10",
}
WORST = 10  # worst questions shown unless --worst says otherwise
PER_ITEM_FILE = "per_item.jsonl"

Values = Mapping[str, Any]  # a stats object with .get(metric)


# -- report.md -------------------------------------------------------------------------------


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _cell(estimate: Estimate | None, bold: bool) -> str:
    if estimate is None:
        return "-"
    value = f"**{estimate.value:.3f}**" if bold else f"{estimate.value:.3f}"
    if estimate.n < 2:
        return value
    return f"{value} [{estimate.low:.2f}, {estimate.high:.2f}]"


def _metric_table(
    sets: Mapping[str, MetricSet],
    columns: Sequence[tuple[str, str]],
    winners: Mapping[str, Sequence[str]],
    first: str = "config",
) -> list[str]:
    """Rows are configs (or types), columns metrics with intervals; significant winners bold."""
    rows = []
    for name, stats in sets.items():
        cells = [_cell(stats.interval(key), name in winners.get(key, ())) for key, _ in columns]
        rows.append([name, str(stats.n), *cells])
    return _table([first, "n", *(label for _, label in columns)], rows)


def _retrieval_section(summary: EvalSummary) -> list[str]:
    columns = [(c, LABELS[c]) for c in RETRIEVAL_METRICS]
    lines = [
        "## Retrieval (answerable items)",
        "",
        "Standard definitions (as BEIR, ranx, pytrec_eval): Recall@k = gold papers in the top k "
        "over all gold papers of the item; MRR; nDCG with binary relevance. metrics.json also "
        "holds `capped_recall@k` (over min(k, gold papers)). Unanswerable items are left out.",
        "",
    ]
    sets = {n: c.retrieval for n, c in summary.configs.items()}
    lines += _metric_table(sets, columns, summary.winners["retrieval"])
    return lines


def _by_type_section(summary: EvalSummary) -> list[str]:
    configs = summary.configs
    values = {n: c.item_values for n, c in configs.items()}
    types = list(dict.fromkeys(t for c in configs.values() for t in c.retrieval_by_type))
    lines = ["## Retrieval by question type", ""]
    for metric, label in (("recall@1", "Recall@1"), ("mrr", "MRR")):
        lines += [f"{label}:", ""]
        rows = []
        for t in types:
            top = set(significant_best(values, metric, type_ids(summary.records, t)))
            per_config = {n: c.retrieval_by_type.get(t) for n, c in configs.items()}
            n = next((s.n for s in per_config.values() if s), 0)
            cells = [
                _cell(s.interval(metric) if s else None, c in top) for c, s in per_config.items()
            ]
            rows.append([t, str(n), *cells])
        lines += _table(["type", "n", *configs], rows)
    return lines


def _abstention_section(summary: EvalSummary) -> list[str]:
    thresholds = summary.thresholds
    won = summary.winners["abstention"]
    rows = [
        [
            name,
            c.decided_by,
            f"{c.abstention.abstained_right}/{c.abstention.unanswerable}",
            _cell(c.abstention_rates.interval("right_rate"), name in won["right_rate"]),
            f"{c.abstention.declined_wrongly}/{c.abstention.answerable}",
            _cell(c.abstention_rates.interval("wrong_rate"), name in won["wrong_rate"]),
        ]
        for name, c in summary.configs.items()
    ]
    header = ["config", "decided by", "abstained on unanswerable", "rate"]
    # Reports of runs before the floor existed have none.
    floor = thresholds.get("coverage_min_relevance")
    similar = f" at least {floor} similar" if floor else ""
    return [
        "## Abstention",
        "",
        "Retrieval-only configs abstain by the answerer's rule: the best hit's dense similarity "
        f"is below {thresholds['abstain_threshold']}, or no retrieved paper mentions a name "
        f"the question uses, or no retrieved paper{similar} holds "
        f"{thresholds['coverage_threshold']} of the question's distinctive terms (a question "
        "without any holds none) while the mean of the best chunk's and the best sentence's "
        f"similarity is below {thresholds['coverage_relevance']}. A question naming a paper "
        "of the collection is answered. Answer configs report what the answerer did.",
        "",
        *_table([*header, "declined answerable", "rate"], rows),
    ]


def _answer_section(summary: EvalSummary) -> list[str]:
    configs = summary.configs
    answered = {n: c for n, c in configs.items() if c.answers and c.counts}
    if not answered:
        return []
    lines = ["## Answers (answerable items)", ""]
    sets = {n: c.answers for n, c in answered.items() if c.answers}
    columns = [(m, ANSWER_LABELS[m]) for m in ANSWER_METRICS]
    lines += _metric_table(sets, columns, summary.winners["answers"])
    counts = [
        [
            n,
            str(k.answered),
            str(k.invalid_citations),
            str(k.dropped_markers),
            str(k.unsupported_sentences),
            f"{k.tentative}/{k.answered}",
            f"{k.unanswerable_tentative}/{k.unanswerable_answered}",
        ]
        for n, c in answered.items()
        if (k := c.counts)
    ]
    header = [
        "config",
        "answered",
        "invalid citations",
        "model markers dropped",
        "unsupported",
        "tentative",
        "tentative, unanswerable",
    ]
    lines += _table(header, counts)
    lines += [
        "Invalid citations: [n] markers in the delivered answers that name no retrieved paper. "
        "Model markers dropped: numbers the model wrote that were not a source, removed by the "
        "citation check before delivery. Tentative: answers that open by saying no paper matches "
        "the question closely (weak evidence), of the answered answerable items and of the "
        "unanswerable items that were answered rather than declined.",
        "",
    ]
    for name, c in configs.items():
        if c.answers_by_type:
            lines += [f"Answers by type, {name}:", ""]
            lines += _metric_table(
                {t: a for t, a in c.answers_by_type.items() if a},
                [
                    ("must_include_accuracy", "must_include acc."),
                    ("citation_precision", "citation P"),
                    ("citation_recall", "citation R"),
                    ("wrong_rate", "declined"),
                ],
                {},
                first="type",
            )
    return lines


def _latency_section(configs: Mapping[str, ConfigSummary]) -> list[str]:
    stages = list(
        dict.fromkeys(s for c in configs.values() for s in c.latency if s != "tokens_per_s")
    )
    header = ["config", *(f"{s} p50 / p95 (s)" for s in stages), "tokens/s"]
    rows = []
    for name, c in configs.items():
        lat = c.latency
        cells = [f"{lat[s]['p50']:.3f} / {lat[s]['p95']:.3f}" if s in lat else "-" for s in stages]
        rows.append([name, *cells, _fmt(lat.get("tokens_per_s"))])
    return ["## Latency", "", *_table(header, rows)]


def _winners_section(won: Mapping[str, Any]) -> list[str]:
    lines = ["## Who wins (significant differences only)", ""]
    for group in ("retrieval", "answers", "abstention"):
        for metric, names in won[group].items():
            if names:
                lines.append(f"- {group}, {metric}: {', '.join(names)}")
    if len(lines) == 2:
        lines.append("- no config is significantly better than all others on any metric")
    return [*lines, ""]


def _worst_section(summary: EvalSummary, config: str, count: int) -> list[str]:
    worst = summary.worst(config, count)
    answerable = sum(1 for r in summary.records if r.config == config and r.result.item.answerable)
    lines = [
        f"## Worst questions ({config}): {len(worst)} shown of the imperfect ones "
        f"({answerable} answerable items)",
        "",
    ]
    if not worst:
        lines += ["None: every gold paper was ranked at the top (and every answer matched).", ""]
    for record in worst:
        lines += _worst_item(record.result)
    return lines


def _worst_item(r: ItemResult) -> list[str]:
    gold = set(r.item.gold_paper_ids)
    rank = next((i for i, p in enumerate(r.ranked, start=1) if p in gold), None)
    found = f"first gold paper at rank {rank}" if rank else "no gold paper retrieved"
    if len(gold) > 1:
        found += f", {len(gold & set(r.ranked))}/{len(gold)} gold papers retrieved"
    lines = [f"### {r.item.id} ({r.item.type}): {found}", "", f"Q: {r.item.question}", ""]
    if r.query != r.item.question:
        lines += [f"Searched: {r.query}", ""]
    lines += [f"Gold answer: {r.item.answer}", ""]
    lines += [f"Gold papers: {'; '.join(r.item.gold_titles)}", "", "Retrieved:", ""]
    lines += [
        f"{i}. {'✓ ' if h.paper_id in gold else ''}{h.title}"
        for i, h in enumerate(r.hits[:5], start=1)
    ]
    if r.answer is not None:
        missed = ", ".join(r.scores.missed_terms) or "none"
        lines += ["", f"Answer: {' '.join(r.answer.text.split())}", "", f"Missed terms: {missed}"]
    return [*lines, ""]


def render_markdown(summary: EvalSummary, charts: Sequence[str], worst: int = WORST) -> str:
    configs = summary.configs
    items = summary.items
    types = ", ".join(f"{t} {n}" for t, n in items.by_type.items())
    lines = [
        f"# Evaluation: {summary.name}",
        "",
        f"- run: {summary.created}, {summary.seconds} s",
        f"- command: `{summary.command or '-'}`",
        f"- gold: {', '.join(summary.gold_files)}, split `{summary.split}`: {items.total} items "
        f"({items.answerable} answerable; {types})",
        f"- index: {', '.join(f'{k}={v}' for k, v in summary.index.items())}",
        f"- intervals: {CONFIDENCE:.0%} percentile bootstrap over items, {RESAMPLES} resamples, "
        f"seed {SEED}; bold = significantly better than every other config (paired bootstrap)",
        "",
        "| config | retriever | backend | description |",
        "|---|---|---|---|",
        *(
            f"| {n} | {c.config.retriever} | {c.config.backend or '-'} | {c.config.description} |"
            for n, c in configs.items()
        ),
        "",
    ]
    lines += _retrieval_section(summary) + _by_type_section(summary)
    lines += _abstention_section(summary)
    lines += _answer_section(summary) + _latency_section(configs)
    lines += _winners_section(summary.winners)
    lines += [f"![{Path(c).stem}]({c})" for c in charts] + [""]
    lines += _worst_section(summary, summary.primary_config(), worst)
    return "\n".join(lines) + "\n"


# -- charts ----------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    return plt


def plot_recall_curves(configs: Mapping[str, ConfigSummary], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, c in configs.items():
        curve = c.curve
        ax.plot(range(1, len(curve) + 1), curve, marker="o", label=name)
    ax.set(xlabel="k (papers)", ylabel="Recall@k", title="Recall@k, answerable items")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_by_type(configs: Mapping[str, ConfigSummary], path: Path) -> None:
    """Recall@1 per question type for every config, plus must_include accuracy if answered."""
    plt = _pyplot()
    panels: list[tuple[str, dict[str, Mapping[str, Any]], str]] = [
        ("Recall@1 by type", {n: c.retrieval_by_type for n, c in configs.items()}, "recall@1")
    ]
    answered = {n: c.answers_by_type for n, c in configs.items() if c.answers_by_type}
    if answered:
        panels.append(("must_include accuracy by type", answered, "must_include_accuracy"))
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 4 * len(panels)), squeeze=False)
    for ax, (title, data, metric) in zip(axes[:, 0], panels, strict=True):
        _bars(ax, data, metric)
        ax.set(title=title, ylim=(0, 1.05))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _bars(ax: Any, data: Mapping[str, Mapping[str, Any]], metric: str) -> None:
    types = list(dict.fromkeys(t for per_type in data.values() for t in per_type))
    width = 0.8 / max(1, len(data))
    for i, (name, per_type) in enumerate(data.items()):
        stats = [per_type.get(t) for t in types]
        values = [(s.get(metric) if s else None) or 0.0 for s in stats]
        ax.bar([x + i * width for x in range(len(types))], values, width, label=name)
    ax.set_xticks([x + width * (len(data) - 1) / 2 for x in range(len(types))], types)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")


# -- writing ---------------------------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "eval"


def default_out_dir(name: str, day: date | None = None) -> Path:
    return REPORTS_DIR / f"{(day or date.today()).isoformat()}-{slug(name)}"


def write_report(summary: EvalSummary, out_dir: Path, worst: int = WORST) -> None:
    """Write metrics.json, per_item.jsonl, the charts and report.md into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(
        json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    rows = (json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in summary.records)
    (out_dir / PER_ITEM_FILE).write_text("".join(rows), encoding="utf-8")
    charts = ["recall_at_k.png", "by_type.png"]
    plot_recall_curves(summary.configs, out_dir / charts[0])
    plot_by_type(summary.configs, out_dir / charts[1])
    report = render_markdown(summary, charts, worst)
    (out_dir / "report.md").write_text(report, encoding="utf-8")
    log.info("wrote the report to %s", out_dir)
