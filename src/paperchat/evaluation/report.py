"""An EvalSummary -> a report folder: metrics.json, report.md and PNG charts. Renders only.

The folder is eval/reports/<YYYY-MM-DD>-<name>/ unless another is given. Tables bold the best
value of each column; "who wins" names the best config per metric and per question type; the
worst questions of the primary config show what was retrieved instead.
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
from paperchat.evaluation.summary import (
    ANSWER_METRICS,
    RETRIEVAL_METRICS,
    AnswerStats,
    ConfigSummary,
    EvalSummary,
    best,
    question_types,
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
WORST = 10

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


def _metric_table(
    values: Mapping[str, Any], columns: Sequence[tuple[str, str]], first: str = "config"
) -> list[str]:
    """Rows are configs (or types), columns metrics; the best of each column in bold."""
    bold = {key: set(best({r: v.get(key) for r, v in values.items()})) for key, _ in columns}
    rows = []
    for name, stats in values.items():
        cells = [
            f"**{_fmt(stats.get(key))}**" if name in bold[key] else _fmt(stats.get(key))
            for key, _ in columns
        ]
        rows.append([name, _fmt(stats.n), *cells])
    return _table([first, "n", *(label for _, label in columns)], rows)


def _retrieval_section(configs: Mapping[str, ConfigSummary]) -> list[str]:
    columns = [(c, LABELS[c]) for c in RETRIEVAL_METRICS]
    lines = [
        "## Retrieval (answerable items)",
        "",
        "Recall@k counts the gold papers in the top k out of min(k, gold papers), so 1.0 is "
        "reachable at every k for multi-paper items too. Unanswerable items are left out.",
        "",
    ]
    lines += _metric_table({n: c.retrieval for n, c in configs.items()}, columns)
    return lines


def _by_type_section(configs: Mapping[str, ConfigSummary]) -> list[str]:
    lines = ["## Retrieval by question type", ""]
    for metric, label in (("recall@1", "Recall@1"), ("mrr", "MRR")):
        lines += [f"{label}:", ""]
        rows = []
        for t in question_types(configs):
            per_config = {n: c.retrieval_by_type.get(t) for n, c in configs.items()}
            values = {n: s.get(metric) if s else None for n, s in per_config.items()}
            top = set(best(values))
            n = next((s.n for s in per_config.values() if s), 0)
            cells = [f"**{_fmt(v)}**" if c in top else _fmt(v) for c, v in values.items()]
            rows.append([t, str(n), *cells])
        lines += _table(["type", "n", *configs], rows)
    return lines


def _abstention_section(summary: EvalSummary) -> list[str]:
    thresholds = summary.thresholds
    rows = [
        [
            name,
            c.decided_by,
            f"{c.abstention.abstained_right}/{c.abstention.unanswerable}",
            _fmt(c.abstention.right_rate),
            f"{c.abstention.declined_wrongly}/{c.abstention.answerable}",
            _fmt(c.abstention.wrong_rate),
        ]
        for name, c in summary.configs.items()
    ]
    header = ["config", "decided by", "abstained on unanswerable", "rate"]
    return [
        "## Abstention",
        "",
        "Retrieval-only configs abstain by the answerer's rule: the best hit's dense similarity "
        f"is below {thresholds['abstain_threshold']}, or no retrieved paper holds "
        f"{thresholds['coverage_threshold']} of the question's distinctive terms while that "
        f"similarity is below {thresholds['coverage_relevance']}. Answer configs report what "
        "the answerer did.",
        "",
        *_table([*header, "declined answerable", "rate"], rows),
    ]


def _answer_section(configs: Mapping[str, ConfigSummary]) -> list[str]:
    answered: dict[str, AnswerStats] = {n: c.answers for n, c in configs.items() if c.answers}
    if not answered:
        return []
    lines = ["## Answers (answerable items)", ""]
    lines += _metric_table(answered, [(m, ANSWER_LABELS[m]) for m in ANSWER_METRICS])
    counts = [
        [
            n,
            str(a.answered),
            str(a.invalid_citations),
            str(a.dropped_markers),
            str(a.unsupported_sentences),
        ]
        for n, a in answered.items()
    ]
    header = ["config", "answered", "invalid citations", "model markers dropped", "unsupported"]
    lines += _table(header, counts)
    lines += [
        "Invalid citations: [n] markers in the delivered answers that name no retrieved paper. "
        "Model markers dropped: numbers the model wrote that were not a source, removed by the "
        "citation check before delivery.",
        "",
    ]
    for name, c in configs.items():
        if c.answers_by_type:
            lines += [f"must_include accuracy by type, {name}:", ""]
            lines += _metric_table(
                {t: a for t, a in c.answers_by_type.items() if a},
                [("must_include_accuracy", "must_include acc."), ("citation_recall", "citation R")],
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
    lines = ["## Who wins", ""]
    for group, label in (
        ("retrieval", "retrieval"),
        ("mrr_by_type", "MRR by type"),
        ("answers", "answers"),
        ("abstention", "abstention"),
    ):
        for metric, names in won[group].items():
            if names:
                lines.append(f"- {label}, {metric}: {', '.join(names)}")
    return [*lines, ""] if len(lines) > 2 else []


def _worst_section(summary: EvalSummary, config: str, count: int = WORST) -> list[str]:
    worst = summary.worst(config, count)
    lines = [f"## The {count} worst questions ({config})", ""]
    if not worst:
        lines += ["None: every gold paper was ranked at the top (and every answer matched).", ""]
    for record in worst:
        r = record.result
        gold = set(r.item.gold_paper_ids)
        rank = next((i for i, p in enumerate(r.ranked, start=1) if p in gold), None)
        found = f"first gold paper at rank {rank}" if rank else "no gold paper retrieved"
        if len(gold) > 1:
            found += f", {len(gold & set(r.ranked))}/{len(gold)} gold papers retrieved"
        lines += [f"### {r.item.id} ({r.item.type}): {found}", "", f"Q: {r.item.question}", ""]
        if r.query != r.item.question:
            lines += [f"Searched: {r.query}", ""]
        lines += [f"Gold: {'; '.join(r.item.gold_titles)}", "", "Retrieved:", ""]
        lines += [
            f"{i}. {'✓ ' if h.paper_id in gold else ''}{h.title}"
            for i, h in enumerate(r.hits[:5], start=1)
        ]
        if r.answer is not None:
            lines += ["", f"Answer: {' '.join(r.answer.text.split())[:400]}"]
        lines.append("")
    return lines


def render_markdown(summary: EvalSummary, charts: Sequence[str]) -> str:
    configs = summary.configs
    items = summary.items
    types = ", ".join(f"{t} {n}" for t, n in items.by_type.items())
    lines = [
        f"# Evaluation: {summary.name}",
        "",
        f"- run: {summary.created}, {summary.seconds} s",
        f"- command: `{summary.command or '-'}`",
        f"- gold: {', '.join(summary.gold_files)}: {items.total} items "
        f"({items.answerable} answerable; {types})",
        f"- index: {', '.join(f'{k}={v}' for k, v in summary.index.items())}",
        "",
        "| config | retriever | backend | description |",
        "|---|---|---|---|",
        *(
            f"| {n} | {c.config.retriever} | {c.config.backend or '-'} | {c.config.description} |"
            for n, c in configs.items()
        ),
        "",
    ]
    lines += _retrieval_section(configs) + _by_type_section(configs)
    lines += _abstention_section(summary)
    lines += _answer_section(configs) + _latency_section(configs)
    lines += _winners_section(summary.winners)
    lines += [f"![{Path(c).stem}]({c})" for c in charts] + [""]
    lines += _worst_section(summary, summary.primary_config())
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
        curve = c.retrieval.curve
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


def write_report(summary: EvalSummary, out_dir: Path) -> None:
    """Write metrics.json, the charts and report.md into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(
        json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    charts = ["recall_at_k.png", "by_type.png"]
    plot_recall_curves(summary.configs, out_dir / charts[0])
    plot_by_type(summary.configs, out_dir / charts[1])
    (out_dir / "report.md").write_text(render_markdown(summary, charts), encoding="utf-8")
    log.info("wrote the report to %s", out_dir)
