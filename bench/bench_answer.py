"""Answer latency and quality per backend on gold questions (a benchmark, not a test).

    python bench/bench_answer.py                      # extractive, local (+ vllm if a URL is set)
    python bench/bench_answer.py --backends extractive local --n 30
    PAPERCHAT_LLM_URL=http://127.0.0.1:8011/v1 python bench/bench_answer.py

Per backend, over the same gold questions (spread over the question types): time to first
token and to the first checked sentence, total latency p50/p95, generation tokens/s,
must_include accuracy on answerable questions (word boundaries, case-insensitive), citation
validity (every marker names a retrieved paper and every citation is marked), citation
precision against the gold papers, and abstention. Uses the index in PAPERCHAT_DATA_DIR,
ingesting the shipped corpus first when it is empty. One warm-up question per backend loads
the models before timing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from paperchat.answering import Answerer
from paperchat.corpus import load_papers
from paperchat.evaluation.gold import GoldItem, contains_phrase, load_gold, resolve
from paperchat.evaluation.metrics import percentile
from paperchat.evaluation.runner import invalid_citations, sample
from paperchat.pipeline import Pipeline
from paperchat.prompts import marked_numbers
from paperchat.records import Answer
from paperchat.settings import Settings

GOLD = Path(__file__).resolve().parents[1] / "eval" / "gold" / "papers.jsonl"
URL_VARIABLES = ("PAPERCHAT_TEST_VLLM_URL", "PAPERCHAT_LLM_URL")


@dataclass
class Run:
    backend: str
    answers: list[tuple[GoldItem, Answer]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def timing(self, key: str) -> list[float]:
        return [a.timings[key] for _, a in self.answers if key in a.timings]

    def answerable(self) -> list[tuple[GoldItem, Answer]]:
        return [(i, a) for i, a in self.answers if i.answerable]


def citations_valid(answer: Answer) -> bool:
    """Markers and citations agree, and every marker names the retrieved paper behind its n."""
    marked = set(marked_numbers(answer.text))
    return marked == {c.n for c in answer.citations} and invalid_citations(answer) == 0


def must_include_ok(item: GoldItem, answer: Answer) -> bool:
    return all(contains_phrase(answer.text, p) for p in item.must_include)


def tokens_per_second(run: Run) -> float | None:
    tokens = sum(a.usage.get("completion_tokens", 0) for _, a in run.answers)
    seconds = sum(a.timings.get("generate", 0.0) for _, a in run.answers if a.usage)
    return tokens / seconds if tokens and seconds else None


def p(values: list[float], q: int) -> float | None:
    return percentile(values, q) if values else None


def summary(run: Run) -> dict[str, str]:
    answerable = run.answerable()
    unanswerable = [(i, a) for i, a in run.answers if not i.answerable]
    answered = [(i, a) for i, a in answerable if not a.abstained]
    cited = [(i, c) for i, a in answered for c in a.citations]
    total = run.timing("total")
    return {
        "backend": run.backend,
        "n": str(len(run.answers)),
        "TTFT p50": _s(p(run.timing("first_token"), 50)),
        "1st sentence p50": _s(p(run.timing("first_sentence"), 50)),
        "total p50": _s(p(total, 50)),
        "total p95": _s(p(total, 95)),
        "tok/s": _f(tokens_per_second(run), "{:.1f}"),
        "must_include": _share(sum(must_include_ok(i, a) for i, a in answerable), answerable),
        "cit. valid": _share(sum(citations_valid(a) for _, a in run.answers), run.answers),
        "cit. precision": _share(sum(c.paper_id in i.gold_paper_ids for i, c in cited), cited),
        "bad markers": str(sum(len(a.invalid_markers) for _, a in run.answers)),
        "unsupported": str(sum(len(a.unsupported) for _, a in run.answers)),
        "abstain ok/wrong": f"{sum(a.abstained for _, a in unanswerable)}/{len(unanswerable)}"
        f" | {sum(a.abstained for _, a in answerable)}/{len(answerable)}",
        "errors": str(len(run.errors)),
    }


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _f(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _share(count: int, of: list) -> str:
    return f"{count / len(of):.0%} ({count}/{len(of)})" if of else "-"


def table(rows: list[dict[str, str]]) -> str:
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
    line = "| " + " | ".join(k.ljust(widths[k]) for k in keys) + " |"
    rule = "|" + "|".join("-" * (widths[k] + 2) for k in keys) + "|"
    body = ["| " + " | ".join(r[k].ljust(widths[k]) for k in keys) + " |" for r in rows]
    return "\n".join([line, rule, *body])


def bench(answerer: Answerer, items: list[GoldItem], backend: str, verbose: bool) -> Run:
    run = Run(backend)
    answerer.answer(items[0].question)  # warm-up: loads the model, fills caches
    for item in items:
        started = time.perf_counter()
        try:
            answer = answerer.answer(item.question, item.history)
        except Exception as e:  # a benchmark reports failures and goes on
            run.errors.append(f"{item.id}: {e}")
            continue
        run.answers.append((item, answer))
        if verbose:
            seconds = time.perf_counter() - started
            print(f"  {backend} {item.id} {seconds:.1f}s: {answer.text[:160]!r}", file=sys.stderr)
    return run


def default_backends() -> list[str]:
    backends = ["extractive", "local"]
    return [*backends, "vllm"] if any(os.environ.get(v) for v in URL_VARIABLES) else backends


def pipeline_for(backends: list[str]) -> Pipeline:
    settings = Settings()
    url = os.environ.get("PAPERCHAT_TEST_VLLM_URL")
    if "vllm" in backends and url and not settings.llm.url:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"url": url})})
    pipeline = Pipeline(settings)
    if pipeline.index.count_chunks() == 0:
        print("empty index: ingesting the shipped corpus first", file=sys.stderr)
        pipeline.ingestor.run(settings.corpus.paths)
    return pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Answer latency and quality per backend.")
    parser.add_argument("--backends", nargs="+", default=None, help="default: what is usable")
    parser.add_argument("--n", type=int, default=30, help="gold questions, spread over types")
    parser.add_argument("--gold", type=Path, default=GOLD)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every answer")
    args = parser.parse_args(argv)
    backends = args.backends or default_backends()
    pipeline = pipeline_for(backends)
    try:
        papers, _ = load_papers(pipeline.settings.corpus.paths)
        items = sample(resolve(load_gold([args.gold]), papers), args.n)
        rows = []
        for backend in backends:
            run = bench(pipeline.answerer(backend), items, backend, args.verbose)
            rows.append(summary(run))
            for error in run.errors[:3]:
                print(f"  {backend} error: {error}", file=sys.stderr)
    finally:
        pipeline.close()
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
