"""An EvalRun -> a report folder: metrics.json, report.md and PNG charts.

The folder is eval/reports/<YYYY-MM-DD>-<name>/ unless another is given. Tables bold the best
value of each column; "who wins" names the best config per metric and per question type; the
ten worst questions of the best config show what was retrieved instead.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from paperchat.evaluation import REPORTS_DIR, EvalRun, ItemResult, config_summary, question_records
from paperchat.metrics import must_include_score, recall_at_k, reciprocal_rank

log = logging.getLogger(__name__)

RETRIEVAL_COLUMNS = ("recall@1", "recall@3", "recall@5", "recall@10", "mrr", "ndcg@5", "ndcg@10")
ANSWER_COLUMNS = (
    ("must_include_accuracy", "must_include acc."),
    ("must_include_share", "must_include share"),
    ("citation_precision", "citation P"),
    ("citation_recall", "citation R"),
    ("cited_share", ">=1 citation"),
    ("faithfulness", "faithfulness (judge)"),
)
LABELS = {
    "recall@1": "R@1",
    "recall@3": "R@3",
    "recall@5": "R@5",
    "recall@10": "R@10",
    "mrr": "MRR",
    "ndcg@5": "nDCG@5",
    "ndcg@10": "nDCG@10",
}
LOWER_IS_BETTER = frozenset(
    {"wrong_rate", "invalid_citations", "dropped_markers", "unsupported_sentences"}
)
WORST = 10


# -- metrics.json ----------------------------------------------------------------------------


def summarise(run: EvalRun, name: str, command: str = "") -> dict[str, Any]:
    configs = {c.name: config_summary(run, c) for c in run.configs}
    return {
        "name": name,
        "created": datetime.fromtimestamp(run.started).isoformat(timespec="seconds"),
        "command": command,
        "seconds": round(run.seconds, 1),
        "gold_files": run.gold_files,
        "split": run.split,
        "items": _item_counts(run),
        "index": run.identity,
        "abstention_thresholds": {
            name: getattr(run.abstention, name)
            for name in ("abstain_threshold", "coverage_threshold", "coverage_relevance")
        },
        "configs": configs,
        "winners": winners(configs),
        "questions": question_records(run),
    }


def _item_counts(run: EvalRun) -> dict[str, Any]:
    by_type: dict[str, int] = {}
    for item in run.items:
        by_type[item.type] = by_type.get(item.type, 0) + 1
    answerable = sum(item.answerable for item in run.items)
    return {"total": len(run.items), "answerable": answerable, "by_type": by_type}


def best(values: Mapping[str, float | None], lower: bool = False) -> list[str]:
    """The configs tied for the best defined value; none when fewer than two compete."""
    defined = {name: v for name, v in values.items() if v is not None}
    if len(defined) < 2:
        return []
    top = min(defined.values()) if lower else max(defined.values())
    return [name for name, v in defined.items() if abs(v - top) < 1e-9]


def winners(configs: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    overall = {n: c["retrieval"]["overall"] for n, c in configs.items()}
    types = list(dict.fromkeys(t for c in configs.values() for t in c["retrieval"]["by_type"]))
    answered = {n: c["answers"] for n, c in configs.items() if c["answers"]}
    abstention = {n: c["abstention"] for n, c in configs.items()}
    return {
        "retrieval": {
            m: best({n: s.get(m) for n, s in overall.items()}) for m in RETRIEVAL_COLUMNS
        },
        "mrr_by_type": {
            t: best(
                {n: c["retrieval"]["by_type"].get(t, {}).get("mrr") for n, c in configs.items()}
            )
            for t in types
        },
        "answers": {m: best({n: a.get(m) for n, a in answered.items()}) for m, _ in ANSWER_COLUMNS},
        "abstention": {
            m: best({n: a.get(m) for n, a in abstention.items()}, lower=m in LOWER_IS_BETTER)
            for m in ("right_rate", "wrong_rate")
        },
    }


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
    values: Mapping[str, Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    first: str = "config",
) -> list[str]:
    """Rows are configs (or types), columns metrics; the best of each column in bold."""
    bold = {key: set(best({r: v.get(key) for r, v in values.items()})) for key, _ in columns}
    rows = []
    for name, stats in values.items():
        cells = [
            f"**{_fmt(stats.get(key))}**" if name in bold[key] else _fmt(stats.get(key))
            for key, _ in columns
        ]
        rows.append([name, _fmt(stats.get("n")), *cells])
    return _table([first, "n", *(label for _, label in columns)], rows)


def _retrieval_section(configs: Mapping[str, dict[str, Any]]) -> list[str]:
    columns = [(c, LABELS[c]) for c in RETRIEVAL_COLUMNS]
    lines = [
        "## Retrieval (answerable items)",
        "",
        "Recall@k counts the gold papers in the top k out of min(k, gold papers), so 1.0 is "
        "reachable at every k for multi-paper items too. Unanswerable items are left out.",
        "",
    ]
    lines += _metric_table({n: c["retrieval"]["overall"] for n, c in configs.items()}, columns)
    return lines


def _by_type_section(configs: Mapping[str, dict[str, Any]]) -> list[str]:
    types = list(dict.fromkeys(t for c in configs.values() for t in c["retrieval"]["by_type"]))
    lines = ["## Retrieval by question type", ""]
    for metric, label in (("recall@1", "Recall@1"), ("mrr", "MRR")):
        lines += [f"{label}:", ""]
        rows = []
        for t in types:
            values = {
                n: c["retrieval"]["by_type"].get(t, {}).get(metric) for n, c in configs.items()
            }
            top = set(best(values))
            n = next(
                (
                    c["retrieval"]["by_type"][t]["n"]
                    for c in configs.values()
                    if t in c["retrieval"]["by_type"]
                ),
                0,
            )
            cells = [f"**{_fmt(v)}**" if c in top else _fmt(v) for c, v in values.items()]
            rows.append([t, str(n), *cells])
        lines += _table(["type", "n", *configs], rows)
    return lines


def _abstention_section(
    configs: Mapping[str, dict[str, Any]], thresholds: Mapping[str, float]
) -> list[str]:
    rows = [
        [
            name,
            c["abstention"]["decided_by"],
            f"{c['abstention']['abstained_right']}/{c['abstention']['unanswerable']}",
            _fmt(c["abstention"]["right_rate"]),
            f"{c['abstention']['declined_wrongly']}/{c['abstention']['answerable']}",
            _fmt(c["abstention"]["wrong_rate"]),
        ]
        for name, c in configs.items()
    ]
    return [
        "## Abstention",
        "",
        "Retrieval-only configs abstain by the answerer's rule: the best hit's dense similarity "
        f"is below {thresholds['abstain_threshold']}, or no retrieved paper holds "
        f"{thresholds['coverage_threshold']} of the question's distinctive terms while that "
        f"similarity is below {thresholds['coverage_relevance']}. Answer configs report what "
        "the answerer did.",
        "",
        *_table(
            [
                "config",
                "decided by",
                "abstained on unanswerable",
                "rate",
                "declined answerable",
                "rate",
            ],
            rows,
        ),
    ]


def _answer_section(configs: Mapping[str, dict[str, Any]]) -> list[str]:
    answered = {n: c["answers"] for n, c in configs.items() if c["answers"]}
    if not answered:
        return []
    lines = ["## Answers (answerable items)", ""]
    lines += _metric_table(answered, ANSWER_COLUMNS)
    counts = [
        [
            n,
            str(a["answered"]),
            str(a["invalid_citations"]),
            str(a.get("dropped_markers", 0)),
            str(a["unsupported_sentences"]),
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
        if c.get("answers_by_type"):
            lines += [f"Answers by type, {name}:", ""]
            lines += _metric_table(
                {t: a for t, a in c["answers_by_type"].items() if a},
                [
                    ("must_include_accuracy", "must_include acc."),
                    ("citation_precision", "citation P"),
                    ("citation_recall", "citation R"),
                    ("declined_wrongly", "declined"),
                ],
                first="type",
            )
    return lines


def _latency_section(configs: Mapping[str, dict[str, Any]]) -> list[str]:
    stages = list(
        dict.fromkeys(s for c in configs.values() for s in c["latency"] if s != "tokens_per_s")
    )
    header = ["config", *(f"{s} p50 / p95 (s)" for s in stages), "tokens/s"]
    rows = []
    for name, c in configs.items():
        lat = c["latency"]
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


def worst_results(run: EvalRun, config: str) -> list[ItemResult]:
    """Imperfect answerable items, worst first: gold ranked low or missed, then answers."""
    depth = run.depth[config]

    def badness(r: ItemResult) -> tuple[float, float, float]:
        gold = r.item.gold_paper_ids
        must = must_include_score(r.answer.text, r.item.must_include) if r.answer else 1.0
        return (reciprocal_rank(r.ranked, gold), recall_at_k(r.ranked, gold, depth), must)

    scored = [r for r in run.results[config] if r.item.answerable]
    imperfect = [r for r in scored if badness(r) != (1.0, 1.0, 1.0)]
    return sorted(imperfect, key=badness)[:WORST]


def _worst_section(run: EvalRun, config: str) -> list[str]:
    worst = worst_results(run, config)
    lines = [f"## The {WORST} worst questions ({config})", ""]
    if not worst:
        lines += ["None: every gold paper was ranked at the top (and every answer matched).", ""]
    for r in worst:
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


def primary_config(metrics: Mapping[str, Any]) -> str:
    """The config whose failures are worth reading: the first answer config, else best MRR."""
    configs = metrics["configs"]
    answering = [n for n, c in configs.items() if c["backend"]]
    if answering:
        return answering[0]
    return max(configs, key=lambda n: configs[n]["retrieval"]["overall"].get("mrr", 0.0))


def render_markdown(run: EvalRun, metrics: Mapping[str, Any], charts: Sequence[str]) -> str:
    configs = metrics["configs"]
    items = metrics["items"]
    types = ", ".join(f"{t} {n}" for t, n in items["by_type"].items())
    lines = [
        f"# Evaluation: {metrics['name']}",
        "",
        f"- run: {metrics['created']}, {metrics['seconds']} s",
        f"- command: `{metrics['command'] or '-'}`",
        f"- gold: {', '.join(metrics['gold_files'])}, split `{metrics.get('split', 'all')}`: "
        f"{items['total']} items ({items['answerable']} answerable; {types})",
        f"- index: {', '.join(f'{k}={v}' for k, v in metrics['index'].items())}",
        "",
        "| config | retriever | backend | description |",
        "|---|---|---|---|",
        *(
            f"| {n} | {c['retriever']} | {c['backend'] or '-'} | {c['description']} |"
            for n, c in configs.items()
        ),
        "",
    ]
    lines += _retrieval_section(configs) + _by_type_section(configs)
    lines += _abstention_section(configs, metrics["abstention_thresholds"])
    lines += _answer_section(configs) + _latency_section(configs)
    lines += _winners_section(metrics["winners"])
    lines += [f"![{Path(c).stem}]({c})" for c in charts] + [""]
    lines += _worst_section(run, primary_config(metrics))
    return "\n".join(lines) + "\n"


# -- charts ----------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    return plt


def plot_recall_curves(configs: Mapping[str, dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, c in configs.items():
        curve = c["retrieval"]["overall"].get("curve", [])
        ax.plot(range(1, len(curve) + 1), curve, marker="o", label=name)
    ax.set(xlabel="k (papers)", ylabel="Recall@k", title="Recall@k, answerable items")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_by_type(configs: Mapping[str, dict[str, Any]], path: Path) -> None:
    """Recall@1 per question type for every config, plus must_include accuracy if answered."""
    plt = _pyplot()
    panels = [
        ("Recall@1 by type", {n: c["retrieval"]["by_type"] for n, c in configs.items()}, "recall@1")
    ]
    answered = {n: c["answers_by_type"] for n, c in configs.items() if c.get("answers_by_type")}
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
        values = [((per_type.get(t) or {}).get(metric) or 0.0) for t in types]
        ax.bar([x + i * width for x in range(len(types))], values, width, label=name)
    ax.set_xticks([x + width * (len(data) - 1) / 2 for x in range(len(types))], types)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")


# -- writing ---------------------------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "eval"


def default_out_dir(name: str, day: date | None = None) -> Path:
    return REPORTS_DIR / f"{(day or date.today()).isoformat()}-{slug(name)}"


def write_report(run: EvalRun, out_dir: Path, name: str, command: str = "") -> dict[str, Any]:
    """Write metrics.json, the charts and report.md into out_dir; returns the metrics."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = summarise(run, name, command)
    (out_dir / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    charts = ["recall_at_k.png", "by_type.png"]
    plot_recall_curves(metrics["configs"], out_dir / charts[0])
    plot_by_type(metrics["configs"], out_dir / charts[1])
    report = render_markdown(run, metrics, charts)
    (out_dir / "report.md").write_text(report, encoding="utf-8")
    log.info("wrote the report to %s", out_dir)
    return metrics
