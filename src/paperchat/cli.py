"""`paperchat` command line: the only module that prints."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from tqdm import tqdm

from paperchat.answering import AnswerEvent, Delta, Done, format_sources
from paperchat.errors import PaperchatError
from paperchat.index import Filters
from paperchat.ingest import IngestReport
from paperchat.pipeline import Pipeline
from paperchat.records import Answer, Turn
from paperchat.retrieval import MODES
from paperchat.settings import Settings

BACKENDS = ("auto", "vllm", "local", "extractive")

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
    pipeline = Pipeline(settings)
    try:
        with tqdm(desc="ingest", unit="paper", disable=args.quiet) as bar:

            def progress(papers: int, chunks: int) -> None:
                bar.update(papers)
                bar.set_postfix(chunks=chunks)

            report = pipeline.ingestor.run(paths, progress)
        print_ingest_report(report)
        stats = f"{pipeline.index.count_papers()} papers, {pipeline.index.count_chunks()} chunks"
        print(f"index: {stats} in {pipeline.index.collection}")
    finally:
        pipeline.close()
    return 0 if report.ok else 1


def print_ingest_report(report: IngestReport) -> None:
    for f in report.files:
        counts = f"{f.papers} papers ({f.new} new, {f.updated} updated, {f.unchanged} unchanged)"
        print(f"{f.path}: {counts}")
        for problem in f.problems:
            print(f"  warning: {problem}", file=sys.stderr)
        if f.error:
            print(f"  error: {f.error}", file=sys.stderr)
    print(
        f"total: {report.papers} papers, {report.chunks} chunks embedded in {report.seconds:.1f}s"
    )


@command("search")
def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    filters = Filters(
        sources=tuple(args.source or ()), date_from=args.date_from, date_to=args.date_to
    )
    pipeline = Pipeline(settings)
    try:
        hits = pipeline.retriever.search(args.question, k=args.k, mode=args.mode, filters=filters)
    finally:
        pipeline.close()
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
    pipeline = Pipeline(settings)
    try:
        index = pipeline.index
        info = {
            "qdrant": settings.qdrant.url or str(settings.qdrant_path),
            "collection": index.collection,
            "papers": index.count_papers(),
            "chunks": index.count_chunks(),
            **settings.index_identity(),
        }
    finally:
        pipeline.close()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:>14}: {value}")
    return 0


# -- ask / chat ------------------------------------------------------------------------------


@command("ask")
def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    pipeline = Pipeline(settings)
    try:
        answerer = pipeline.answerer(args.backend)
        if args.json:
            answer = answerer.answer(args.question, k=args.k, mode=args.mode)
            print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
            return 0
        print_streamed(answerer.stream(args.question, k=args.k, mode=args.mode))
    finally:
        pipeline.close()
    return 0


def print_streamed(events: Iterable[AnswerEvent]) -> Answer:
    """Print deltas as they come, then the cited papers; returns the finished answer."""
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
    pipeline = Pipeline(settings)
    history: list[Turn] = []
    try:
        answerer = pipeline.answerer(args.backend)
        print(f"paperchat ({answerer.backend}); empty line or Ctrl-D to quit.")
        while question := _prompt():
            try:
                answer = print_streamed(answerer.stream(question, history, k=args.k))
            except PaperchatError as e:
                print(f"Error: {e}", file=sys.stderr)
                continue
            answer_text = answer.text + "\n" + format_sources(answer.citations)
            history += [Turn("user", question), Turn("assistant", answer_text)]
    finally:
        pipeline.close()
    return 0


def _prompt() -> str:
    try:
        return input("\n> ").strip()
    except EOFError:
        return ""


# -- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paperchat", description="Chat with a collection of research papers."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="parse, chunk, embed and index corpus files")
    p.add_argument(
        "paths",
        nargs="*",
        help="listing .txt / .jsonl files or folders (default: the shipped corpus)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("search", help="retrieve the papers that best match a question")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=None, help="papers to return")
    p.add_argument("--mode", choices=MODES, default=None)
    p.add_argument("--source", action="append", help="only papers listed in this file name")
    p.add_argument("--date-from", help="only papers dated on/after (YYYY-MM-DD)")
    p.add_argument("--date-to", help="only papers dated on/before (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true", help="print JSON records")

    p = sub.add_parser("ask", help="answer a question with cited papers")
    p.add_argument("question")
    p.add_argument("--backend", choices=BACKENDS, default=None)
    p.add_argument("--k", type=int, default=None, help="papers to retrieve")
    p.add_argument("--mode", choices=MODES, default=None)
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    p = sub.add_parser("chat", help="interactive chat with follow-up questions")
    p.add_argument("--backend", choices=BACKENDS, default=None)
    p.add_argument("--k", type=int, default=None)

    p = sub.add_parser("stats", help="what the index holds")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings()
        return COMMANDS[args.command](args, settings)
    except PaperchatError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
