"""`paperchat` command line: the only module that prints."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from paperchat import __version__
from paperchat.errors import ConfigError, PaperchatError
from paperchat.index import Filters
from paperchat.ingest import IngestReport
from paperchat.pipeline import Pipeline
from paperchat.records import Answer
from paperchat.settings import BACKENDS, RETRIEVAL_MODES, Settings

if TYPE_CHECKING:  # the answering stack is imported by the commands that answer
    from paperchat.answering import AnswerEvent
    from paperchat.doctor import Check
    from paperchat.evaluation.summary import EvalSummary

log = logging.getLogger("paperchat")
Command = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn

    return register


# -- ingest / search / stats -----------------------------------------------------------------


@command("ingest")
def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    paths = [Path(p) for p in args.paths] or settings.corpus.paths
    with Pipeline(settings) as pipeline:
        with tqdm(desc="ingest", unit=" papers", disable=args.quiet) as bar:
            report = pipeline.ingestor.run(paths, ingest_progress(bar))
        print_ingest_report(report)
        started = time.perf_counter()
        if pipeline.index.optimize():  # minutes at 100k papers; once per ingest of new papers
            print(f"index: search structures built in {time.perf_counter() - started:.0f}s")
        stats = f"{pipeline.index.count_papers()} papers, {pipeline.index.count_chunks()} chunks"
        print(f"index: {stats} in {pipeline.index.collection}")
    return 0 if report.ok else 1


def ingest_progress(bar: tqdm) -> Callable[[int, int], None]:
    """Papers and papers/s on the bar (its own rate), and the chunks embedded so far."""
    embedded = 0

    def progress(papers: int, chunks: int) -> None:
        nonlocal embedded
        embedded += chunks
        bar.set_postfix_str(f"{embedded} chunks", refresh=False)
        bar.update(papers)

    return progress


def print_ingest_report(report: IngestReport) -> None:
    for f in report.files:
        counts = f"{f.papers} papers ({f.new} new, {f.updated} updated, {f.unchanged} unchanged)"
        if f.duplicates:
            counts += f", {f.duplicates} duplicate records"
        print(f"{f.path}: {counts}" + (f" [{f.format}]" if f.format else ""))
        for problem in f.problems:
            print(f"  warning: {problem}", file=sys.stderr)
        if f.error:
            print(f"  error: {f.error}", file=sys.stderr)
    per_format = sorted(report.per_format().items())
    formats = ", ".join(f"{n} {kind}" for kind, n in per_format if n)
    print(f"formats: {formats or 'none'}")
    print(
        f"total: {report.papers} papers, {report.chunks} chunks embedded in {report.seconds:.1f}s"
    )


def filters_of(args: argparse.Namespace) -> Filters:
    return Filters.of(
        since=args.since,
        until=args.until,
        categories=args.category or (),
        authors=args.author or (),
        sources=args.source or (),
    )


def add_filter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", "--date-from", help="only papers from this date on (YYYY[-MM[-DD]])")
    p.add_argument("--until", "--date-to", help="only papers up to this date (YYYY[-MM[-DD]])")
    p.add_argument("--category", action="append", help="only this category (cs.CL; repeatable)")
    p.add_argument("--author", action="append", help="only this author's papers (last name ok)")
    p.add_argument("--source", action="append", help="only papers listed in this file name")


@command("search")
def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    filters = filters_of(args)
    with Pipeline(settings) as pipeline:
        hits = pipeline.retriever.search(args.question, k=args.k, mode=args.mode, filters=filters)
    records = [h.to_search_record(i) for i, h in enumerate(hits, start=1)]
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=2))
        return 0
    for r, h in zip(records, hits, strict=True):
        print(f"{r['rank']:>2}. [{r['score']:.4f}] {r['title']}  ({r['paper_id']})")
        print(f"    {h.text[:200]}{'...' if len(h.text) > 200 else ''}")
    if not hits:
        print("no matching papers")
    return 0


@command("stats")
def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from paperchat.collection import collection_stats

    with Pipeline(settings) as pipeline:
        index = pipeline.index
        info = {
            "qdrant": settings.qdrant.url or str(settings.qdrant_path),
            "engine": index.engine_version(),
            "collection": index.collection,
            "papers": index.count_papers(),
            "chunks": index.count_chunks(),
            **settings.index_identity(),
        }
        counts = collection_stats(index).to_dict()
    if args.json:
        print(json.dumps({**info, **counts}, indent=2))
        return 0
    for key, value in info.items():
        print(f"{key:>14}: {value}")
    for title, key in (("papers per source", "per_source"), ("papers per year", "per_year")):
        print(f"\n{title}:")
        for name, n in counts[key].items():
            print(f"  {n:>7}  {name}")
    return 0


@command("index")
def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """`index push`: copy the embedded index to a Qdrant server (docs/deploying.md)."""
    from paperchat.index.push import push_index, state_path
    from paperchat.index.server import ServerIndex, open_client

    if settings.qdrant.url:
        raise ConfigError(
            "`paperchat index push` copies the embedded index; unset PAPERCHAT_QDRANT_URL "
            "(the target is given with --to)."
        )
    qdrant = settings.qdrant.model_copy(update={"url": args.to, "api_key": args.api_key})
    target_settings = settings.model_copy(update={"qdrant": qdrant})
    pipeline = Pipeline(settings)
    target = ServerIndex(open_client(target_settings), target_settings)
    state = state_path(settings.data_dir, pipeline.index.collection, args.to)
    try:
        with tqdm(desc="push", unit=" chunks", disable=args.quiet) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            report = push_index(pipeline.index, target, state, args.batch, progress)
    finally:
        target.close()
        pipeline.close()
    resumed = f" (resumed after {report.resumed_at})" if report.resumed_at else ""
    print(f"pushed {report.total} chunks of {target.collection} to {args.to}{resumed}")
    print(f"serve from it: PAPERCHAT_QDRANT_URL={args.to} paperchat serve")
    return 0


@command("doctor")
def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from paperchat.doctor import failed, run_checks

    with Pipeline(settings) as pipeline:
        checks = run_checks(pipeline)
    if args.json:
        print(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        print_checks(checks)
    return 1 if failed(checks) else 0


def print_checks(checks: Sequence[Check]) -> None:
    for c in checks:
        status = "ok" if c.ok else ("FAIL" if c.required else "warn")
        print(f"{status:<5} {c.name:<9} {c.detail}")
        if c.hint:
            print(f"{'':<15} {'tip' if c.ok else 'fix'}: {c.hint}")


# -- ask / chat ------------------------------------------------------------------------------


@command("ask")
def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from paperchat.answering import AnswerOptions

    with Pipeline(settings) as pipeline:
        answerer = pipeline.answerer(args.backend)
        options = AnswerOptions(k=args.k, mode=args.mode, filters=filters_of(args))
        if args.json:
            answer = answerer.answer(args.question, options=options)
            print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
            return 0
        print_streamed(answerer.stream(args.question, options=options))
    return 0


def print_streamed(events: Iterable[AnswerEvent]) -> Answer:
    """Print deltas as they come, then the cited papers; returns the finished answer."""
    from paperchat.answering import Delta, Done, format_sources

    for event in events:
        if isinstance(event, Delta):
            print(event.text, end="", flush=True)
        elif isinstance(event, Done):
            print()
            sources = format_sources(event.answer.citations)
            if sources:
                print("\n" + sources)
            return event.answer
    raise PaperchatError("The answer stream ended early; try again.")


@command("chat")
def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from paperchat.terminal import chat

    filters = filters_of(args)  # a bad date is refused before any model loads
    with Pipeline(settings) as pipeline:
        return chat(lambda: pipeline.answerer(args.backend), settings.data_dir, args.k, filters)


# -- serve -----------------------------------------------------------------------------------


@command("serve")
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # the server stack loads only for this command

    from paperchat.server.api import create_app

    api = settings.api.model_copy(
        update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    llm = settings.llm.model_copy(update={"backend": args.backend or settings.llm.backend})
    settings = settings.model_copy(update={"api": api, "llm": llm})
    # Start-up, indexing progress and refused requests are what an operator watches for.
    logging.getLogger("paperchat").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    with Pipeline(settings) as pipeline:
        # Open the index before the server starts: an index held by another process, or a
        # Qdrant server that is down, is then one `Error: ...` line (from main), not a
        # start-up traceback from inside the web server.
        pipeline.index.count_chunks()
        config = uvicorn.Config(
            create_app(settings, pipeline), host=api.host, port=api.port, access_log=args.verbose
        )
        server = uvicorn.Server(config)
        shown = "127.0.0.1" if api.host in ("0.0.0.0", "::") else api.host
        base = f"http://{shown}:{api.port}"
        print(f"paperchat: UI {base}/  API {base}/v1  docs {base}/docs  ({llm.backend} backend)")
        server.run()
    return 0 if server.started else 1


# -- llm ---------------------------------------------------------------------------------------


@command("llm prepare")
def cmd_llm_prepare(args: argparse.Namespace, settings: Settings) -> int:
    from paperchat.llm.gguf import prepare_local_model

    logging.getLogger("paperchat").setLevel(logging.INFO)  # the one-off conversion takes a while
    print(prepare_local_model(settings))
    return 0


@command("llm serve-command")
def cmd_llm_serve_command(args: argparse.Namespace, settings: Settings) -> int:
    import shlex

    from paperchat.llm.vllm_server import vllm_command, vllm_env

    options = _vllm_options(args)
    env = vllm_env(settings, cpu=args.cpu)
    env = {k: ("<PAPERCHAT_LLM_API_KEY>" if k == "VLLM_API_KEY" else v) for k, v in env.items()}
    words = [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    words += map(shlex.quote, vllm_command(settings, args.model, cpu=args.cpu, **options))
    print(" ".join(words))
    return 0


@command("llm serve")
def cmd_llm_serve(args: argparse.Namespace, settings: Settings) -> int:
    from paperchat.llm.vllm_server import run_vllm_server

    run_vllm_server(settings, args.model, cpu=args.cpu, **_vllm_options(args))


def _vllm_options(args: argparse.Namespace) -> dict[str, object]:
    return {"host": args.host, "port": args.port, "max_model_len": args.max_model_len}


def add_llm_parsers(sub: argparse._SubParsersAction) -> None:
    from paperchat.llm.vllm_server import GPU_DEFAULT_MODEL

    llm = sub.add_parser("llm", help="prepare the local model; serve a model with vLLM")
    actions = llm.add_subparsers(dest="llm_command", required=True)
    actions.add_parser("prepare", help="convert the local model once; print its folder")
    for name, text in (
        ("serve", "serve a model with vLLM as PAPERCHAT_LLM_MODEL (needs paperchat[gpu])"),
        ("serve-command", "print the vLLM command line `paperchat llm serve` runs"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("--model", default=GPU_DEFAULT_MODEL, help="hub id or model folder")
        p.add_argument("--cpu", action="store_true", help="vLLM's CPU build (tests, no GPU)")
        p.add_argument("--host", default="0.0.0.0", help="address to bind")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--max-model-len", type=int, default=None, help="default: context_tokens")


# -- eval / gold-check ----------------------------------------------------------------------


@command("eval")
def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from paperchat.evaluation.gate import failures, parse_floors
    from paperchat.evaluation.judge import make_judge
    from paperchat.evaluation.report import default_out_dir, write_report
    from paperchat.evaluation.runner import evaluate
    from paperchat.evaluation.summary import summarise

    floors = parse_floors(args.fail_under) if args.fail_under else {}
    name = args.name or "-".join(args.config)
    out = Path(args.out) if args.out else default_out_dir(name)
    with (
        Pipeline(settings) as pipeline,
        tqdm(desc="eval", unit="question", disable=args.quiet) as bar,
    ):

        def progress(config: str, total: int) -> None:
            bar.total = total
            bar.set_postfix(config=config, refresh=False)
            bar.update()

        run = evaluate(
            pipeline,
            args.gold,
            args.config,
            args.limit,
            make_judge(settings.eval, settings.prompts_dir),
            progress,
            split=args.split,
        )
    summary = summarise(run, name, command=_eval_command(args))
    write_report(summary, out, worst=args.worst)
    _eval_conversations(args, settings, out)
    for problem in summary.gold_problems:
        print(f"warning: {problem}", file=sys.stderr)
    print_eval_summary(summary)
    print(f"report: {out / 'report.md'}")
    below = failures(summary, floors)
    for line in below:
        print(f"FAIL {line}", file=sys.stderr)
    if below:
        print(
            f"Error: {len(below)} metric(s) below --fail-under {args.fail_under}", file=sys.stderr
        )
    return 1 if below else 0


@command("eval compare")
def cmd_eval_compare(args: argparse.Namespace, settings: Settings) -> int:
    from paperchat.evaluation.compare import compare_runs, render_comparison

    deltas = compare_runs(args.run_a, args.run_b)
    markdown = render_comparison(args.run_a, args.run_b, deltas)
    out = args.out or args.run_b / f"compare-{args.run_a.name}.md"
    out.write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"written to {out}")
    return 0


def _eval_conversations(args: argparse.Namespace, settings: Settings, out: Path) -> None:
    """Answer configs also replay the gold conversations; the section joins the report."""
    from paperchat.evaluation.conversations import evaluate_conversations, write

    if args.no_conversations or not any("+" in c for c in args.config):
        return
    with (
        Pipeline(settings) as pipeline,
        tqdm(desc="conversations", unit="turn", disable=args.quiet) as bar,
    ):
        runs = evaluate_conversations(
            pipeline, args.conversations, args.config, args.split, bar.update
        )
    for run in runs:
        summary = write(run, out)
        for kind, s in summary["by_kind"].items():
            print(
                f"{run.config:<24} {kind:<34} first cited {s['first_cited_right']:.2f}, "
                f"must_include {s['must_include']:.2f}, declined {s['declined']:.2f}, "
                f"leaks {s['leaks']}"
            )


def _eval_command(args: argparse.Namespace) -> str:
    from paperchat.evaluation.runner import shown_path

    gold = [shown_path(Path(g)) for g in args.gold]
    parts = ["paperchat eval", "--gold", *gold, "--config", *args.config]
    parts += ["--split", args.split]
    if args.limit:
        parts += ["--limit", str(args.limit)]
    return " ".join(parts)


def print_eval_summary(summary: EvalSummary) -> None:
    print(f"{'config':<24} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR':>6} {'nDCG@10':>8}")
    for name, config in summary.configs.items():
        r = config.retrieval
        cells = [r.get(k) for k in ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")]
        shown = [f"{v:.3f}" if isinstance(v, float) else "-" for v in cells]
        print(f"{name:<24} {shown[0]:>6} {shown[1]:>6} {shown[2]:>6} {shown[3]:>6} {shown[4]:>8}")
        if a := config.answers:
            answers = [a.get(k) for k in ("must_include_accuracy", "citation_precision")]
            must, precision = (f"{v:.3f}" if v is not None else "-" for v in answers)
            print(
                f"{'':<24} must_include {must}, citation P {precision} "
                f"R {a.get('citation_recall') or 0.0:.3f}"
            )


@command("gold-check")
def cmd_gold_check(args: argparse.Namespace, settings: Settings) -> int:
    from paperchat.corpus import load_papers
    from paperchat.evaluation.gold import check_gold, read_gold

    papers, _ = load_papers(settings.corpus.paths)
    items, problems = [], []
    for path in args.files:
        found, bad = read_gold(Path(path))
        items.extend(found)
        problems.extend(bad)
    problems.extend(check_gold(items, papers))
    for problem in problems:
        print(problem)
    files = ", ".join(map(str, args.files))
    print(f"{files}: {len(items)} items, {len(problems)} problems ({len(papers)} corpus papers)")
    return 1 if problems else 0


def add_eval_parsers(sub: argparse._SubParsersAction) -> None:
    from paperchat.evaluation.configs import GOLD_FILE
    from paperchat.evaluation.conversations import CONVERSATIONS_FILE

    p = sub.add_parser("eval", help="measure retrieval and answers on gold questions")
    p.add_argument("--gold", nargs="+", type=Path, default=[GOLD_FILE], help="gold JSONL files")
    p.add_argument(
        "--config",
        nargs="+",
        default=["sparse", "dense", "hybrid"],
        help="presets of eval/configs/presets.toml, optionally +extractive/+local/+vllm",
    )
    p.add_argument("--limit", type=int, default=None, help="at most N items, spread over types")
    p.add_argument(
        "--split",
        choices=["test", "fit", "all"],
        default="test",
        help="part of the gold files: test (held out from calibration, default), fit, or all",
    )
    p.add_argument(
        "--conversations",
        type=Path,
        default=CONVERSATIONS_FILE,
        help="gold conversations replayed by answer configs (default %(default)s)",
    )
    p.add_argument("--no-conversations", action="store_true", help="skip the conversation replay")
    p.add_argument("--out", default=None, help="report folder (default eval/reports/DATE-NAME)")
    p.add_argument("--name", default=None, help="report name (default: the config names)")
    p.add_argument("--worst", type=int, default=10, help="worst questions in the report")
    p.add_argument(
        "--fail-under",
        default=None,
        metavar="METRIC=FLOOR,...",
        help="exit 1 when a metric is below its floor, e.g. R@5=0.95,citation_precision=0.9",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    actions = p.add_subparsers(dest="eval_command", metavar="{compare}")
    c = actions.add_parser("compare", help="deltas between two run folders, with intervals")
    c.add_argument("run_a", type=Path, help="run folder A (the baseline)")
    c.add_argument("run_b", type=Path, help="run folder B")
    c.add_argument("--out", type=Path, default=None, help="markdown file (default: in RUN_B)")

    p = sub.add_parser("gold-check", help="check gold question files against the corpus")
    p.add_argument("files", nargs="*", type=Path, default=[GOLD_FILE], help="gold JSONL files")


# -- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paperchat", description="Chat with a collection of research papers."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--version", action="version", version=f"paperchat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="parse, chunk, embed and index corpus files")
    p.add_argument(
        "paths",
        nargs="*",
        help="listing .txt, .jsonl, arXiv snapshot .json(l), BibTeX .bib files or folders "
        "(default: the shipped corpus)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("search", help="retrieve the papers that best match a question")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=None, help="papers to return")
    p.add_argument("--mode", choices=RETRIEVAL_MODES, default=None)
    add_filter_options(p)
    p.add_argument("--json", action="store_true", help="print JSON records")

    p = sub.add_parser("ask", help="answer a question with cited papers")
    p.add_argument("question")
    p.add_argument("--backend", choices=BACKENDS, default=None)
    p.add_argument("--k", type=int, default=None, help="papers to retrieve")
    p.add_argument("--mode", choices=RETRIEVAL_MODES, default=None)
    add_filter_options(p)
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    p = sub.add_parser("chat", help="interactive chat with follow-up questions")
    p.add_argument("--backend", choices=BACKENDS, default=None)
    p.add_argument("--k", type=int, default=None)
    add_filter_options(p)

    p = sub.add_parser("serve", help="serve the OpenAI-compatible API and the chat UI")
    p.add_argument("--host", default=None, help="address to bind (default: PAPERCHAT_API_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (default: PAPERCHAT_API_PORT)")
    p.add_argument("--backend", choices=BACKENDS, default=None)

    add_eval_parsers(sub)
    add_llm_parsers(sub)

    p = sub.add_parser("stats", help="what the index holds")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("index", help="manage the index: push it to a Qdrant server")
    index_sub = p.add_subparsers(dest="index_command", required=True)
    p = index_sub.add_parser("push", help="copy the embedded index to a Qdrant server")
    p.add_argument("--to", required=True, help="Qdrant server or cluster URL")
    p.add_argument("--api-key", default=None, help="the server's API key")
    p.add_argument("--batch", type=int, default=256, help="points per request")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("doctor", help="check Qdrant, index, embedder, LLM and prompts")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings()
        name = " ".join(
            w
            for w in (
                args.command,
                getattr(args, "llm_command", None),
                getattr(args, "eval_command", None),
            )
            if w
        )
        return COMMANDS[name](args, settings)
    except PaperchatError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
