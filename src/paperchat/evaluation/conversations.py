"""Conversation replay: gold conversations answered turn by turn, as an API client sends them.

A conversation file is JSONL, one conversation a line (schema in eval/gold/README.md): `id`,
`kind`, `split` (fit/test) and `turns`, each turn a `question` with its `gold_titles`,
`must_include` and, after the first, the `kind` of turn: `pronoun` ("how large are the
improvements they report?"), `elliptical` (no pronoun, after a "which paper" answer: "what's
the final model called?"), `comparison` (names a second paper: "how does X compare with it?")
or `switch` (a standalone question about another paper).

Every turn is sent with the conversation so far in OpenAI's message format, the system's own
earlier answers fed back exactly as the API returned them (text with [n] markers and the
Sources block), and turned into a question and history by the API's own function. Per kind
of turn the summary gives: first cited paper right, recall of the gold papers, both papers
cited (comparisons), citation precision, must_include accuracy, declines, and leaks (a switch
turn citing a paper of an earlier turn that is not its own gold).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paperchat.answering import Answerer
from paperchat.conversation import assistant_content
from paperchat.corpus import load_papers, normalize_title
from paperchat.errors import GoldError
from paperchat.evaluation.gold import ALL, FIT, SPLITS, contains_phrase, title_index
from paperchat.evaluation.metrics import citation_precision, citation_recall, mean
from paperchat.pipeline import Pipeline
from paperchat.records import Answer, Paper
from paperchat.settings import REPO_ROOT

CONVERSATIONS_FILE = REPO_ROOT / "eval" / "gold" / "conversations.jsonl"
OPENING = "opening"
TURN_KINDS = ("pronoun", "elliptical", "comparison", "switch")
FOLLOW_UPS = ("pronoun", "elliptical")


@dataclass(frozen=True, slots=True)
class GoldTurn:
    question: str
    kind: str  # OPENING or one of TURN_KINDS
    gold_titles: tuple[str, ...]
    must_include: tuple[str, ...]
    gold_paper_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GoldConversation:
    id: str
    kind: str
    split: str
    turns: tuple[GoldTurn, ...]
    where: str = ""


# -- reading and checking --------------------------------------------------------------------


def read_conversations(path: Path, papers: Sequence[Paper]) -> list[GoldConversation]:
    """Every conversation of a file, gold titles resolved; GoldError lists every problem."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise GoldError(f"{path}: cannot read the conversations ({e}); check the path.") from e
    by_title = title_index(papers)
    found: list[GoldConversation] = []
    problems: list[str] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = _conversation(json.loads(raw), where)
        except (ValueError, KeyError, TypeError) as e:
            problems.append(f"{where}: {e}")
            continue
        resolved, bad = _resolve(item, by_title)
        problems += [f"{where} ({item.id}): {p}" for p in bad]
        found.append(resolved)
    if problems:
        raise GoldError("bad gold conversations:\n  " + "\n  ".join(problems))
    return found


def _conversation(record: dict[str, Any], where: str) -> GoldConversation:
    if not isinstance(record, dict) or not isinstance(record.get("turns"), list):
        raise ValueError('expected {"id", "kind", "split", "turns": [...]}')
    if record.get("split") not in SPLITS:
        raise ValueError(f'"split" must be one of {", ".join(SPLITS)}')
    if record.get("kind") not in TURN_KINDS:
        raise ValueError(f'"kind" must be one of {", ".join(TURN_KINDS)}')
    turns = []
    for i, t in enumerate(record["turns"]):
        kind = OPENING if i == 0 else t.get("kind", record["kind"])
        if kind not in (OPENING, *TURN_KINDS):
            raise ValueError(f"turn {i + 1}: unknown kind {kind!r}")
        turns.append(
            GoldTurn(
                question=str(t["question"]),
                kind=kind,
                gold_titles=tuple(t["gold_titles"]),
                must_include=tuple(t.get("must_include", ())),
            )
        )
    if len(turns) < 2:
        raise ValueError("a conversation needs at least two turns")
    return GoldConversation(str(record["id"]), record["kind"], record["split"], tuple(turns), where)


def _resolve(
    item: GoldConversation, by_title: dict[str, Paper]
) -> tuple[GoldConversation, list[str]]:
    """Gold titles -> paper ids; every unknown title and unfound must_include is a problem."""
    problems: list[str] = []
    turns = []
    for i, turn in enumerate(item.turns, start=1):
        gold = [by_title.get(normalize_title(t)) for t in turn.gold_titles]
        problems += [
            f"turn {i}: unknown title {t!r}"
            for t, p in zip(turn.gold_titles, gold, strict=True)
            if p is None
        ]
        papers = [p for p in gold if p is not None]
        if not papers:
            problems.append(f"turn {i}: no gold paper")
        for phrase in turn.must_include:
            if papers and not any(contains_phrase(p.abstract, phrase) for p in papers):
                problems.append(f"turn {i}: must_include {phrase!r} is in no gold abstract")
        ids = tuple(p.paper_id for p in papers)
        turns.append(GoldTurn(turn.question, turn.kind, turn.gold_titles, turn.must_include, ids))
    return GoldConversation(item.id, item.kind, item.split, tuple(turns), item.where), problems


def select(conversations: Sequence[GoldConversation], split: str) -> list[GoldConversation]:
    return [c for c in conversations if split == ALL or c.split == split]


# -- replaying -------------------------------------------------------------------------------


@dataclass(slots=True)
class TurnResult:
    conversation: str
    index: int  # 0 = the opening question
    turn: GoldTurn
    answer: Answer
    earlier: tuple[str, ...] = ()  # gold papers of the earlier turns

    @property
    def cited(self) -> list[str]:
        return [c.paper_id for c in self.answer.citations]


Progress = Callable[[], None]


def replay(
    answerer: Answerer,
    conversations: Sequence[GoldConversation],
    progress: Progress | None = None,
) -> list[TurnResult]:
    """Each conversation sent turn by turn through the API's message handling."""
    from paperchat.server.protocol import ChatMessage  # the server stack, only when replaying
    from paperchat.server.serving import conversation as api_conversation

    results: list[TurnResult] = []
    for conv in conversations:
        messages: list[dict[str, str]] = []
        earlier: list[str] = []
        for index, turn in enumerate(conv.turns):
            messages.append({"role": "user", "content": turn.question})
            question, history = api_conversation([ChatMessage(**m) for m in messages])
            answer = answerer.answer(question, history)
            results.append(TurnResult(conv.id, index, turn, answer, tuple(earlier)))
            messages.append({"role": "assistant", "content": assistant_content(answer)})
            earlier += [p for p in turn.gold_paper_ids if p not in earlier]
            if progress:
                progress()
    return results


# -- metrics ---------------------------------------------------------------------------------


def leaked(result: TurnResult) -> bool:
    """A switch turn cites a paper of an earlier turn that is not one of its own gold papers."""
    gold = set(result.turn.gold_paper_ids)
    return any(p in result.earlier and p not in gold for p in result.cited)


def kind_stats(results: Sequence[TurnResult]) -> dict[str, Any]:
    answered = [r for r in results if not r.answer.abstained]
    return {
        "turns": len(results),
        "first_cited_right": mean(
            float(bool(r.cited) and r.cited[0] in r.turn.gold_paper_ids) for r in results
        ),
        "gold_recall": mean(citation_recall(r.cited, r.turn.gold_paper_ids) for r in results),
        "all_gold_cited": mean(float(set(r.turn.gold_paper_ids) <= set(r.cited)) for r in results),
        "citation_precision": mean(
            citation_precision(r.cited, r.turn.gold_paper_ids) for r in answered
        ),
        "must_include": mean(
            float(all(contains_phrase(r.answer.text, m) for m in r.turn.must_include))
            for r in results
        ),
        "declined": mean(float(r.answer.abstained) for r in results),
        "leaks": sum(leaked(r) for r in results if r.index > 0),
    }


def summarise(results: Sequence[TurnResult]) -> dict[str, Any]:
    """Per kind of turn (and follow-ups, pronoun and elliptical together)."""
    groups: dict[str, list[TurnResult]] = {}
    for r in results:
        groups.setdefault(r.turn.kind, []).append(r)
    groups["follow-up (pronoun + elliptical)"] = [r for r in results if r.turn.kind in FOLLOW_UPS]
    order = [OPENING, *TURN_KINDS, "follow-up (pronoun + elliptical)"]
    return {kind: kind_stats(groups[kind]) for kind in order if groups.get(kind)}


def records(results: Sequence[TurnResult]) -> list[dict[str, Any]]:
    """One row per turn: enough to see what went wrong without replaying."""
    return [
        {
            "conversation": r.conversation,
            "turn": r.index,
            "kind": r.turn.kind,
            "question": r.turn.question,
            "read_as": r.answer.question,
            "gold": list(r.turn.gold_paper_ids),
            "cited": r.cited,
            "abstained": r.answer.abstained,
            "leaked": leaked(r) if r.index else False,
            "must_include": list(r.turn.must_include),
            "answer": r.answer.text,
        }
        for r in results
    ]


# -- report ----------------------------------------------------------------------------------

COLUMNS = (
    ("turns", "turns"),
    ("first_cited_right", "first cited right"),
    ("gold_recall", "gold recall"),
    ("all_gold_cited", "all gold cited"),
    ("citation_precision", "citation P"),
    ("must_include", "must_include"),
    ("declined", "declined"),
    ("leaks", "leaks"),
)


@dataclass(slots=True)
class ConversationRun:
    config: str
    split: str
    gold_file: str
    results: list[TurnResult] = field(default_factory=list)


def render(run: ConversationRun) -> str:
    """The report's conversation section: one table, one row per kind of turn."""
    stats = summarise(run.results)
    conversations = len({r.conversation for r in run.results})
    lines = [
        f"## Conversations ({run.config})",
        "",
        f"{conversations} conversations of {run.gold_file}, split `{run.split}`, replayed as an "
        "API client sends them (the system's own earlier answers fed back).",
        "",
        "| kind | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for kind, s in stats.items():
        cells = [str(s[k]) if isinstance(s[k], int) else f"{s[k]:.2f}" for k, _ in COLUMNS]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    misses = [r for r in run.results if r.index and not _right(r)]
    if misses:
        lines += ["", "Turns whose first citation is not a gold paper, or that leaked:", ""]
        lines += [
            f"- {r.conversation} turn {r.index} ({r.turn.kind}): {r.turn.question}" for r in misses
        ]
    return "\n".join(lines) + "\n"


def _right(result: TurnResult) -> bool:
    return (
        bool(result.cited) and result.cited[0] in result.turn.gold_paper_ids and not leaked(result)
    )


def write(run: ConversationRun, out_dir: Path) -> dict[str, Any]:
    """conversations.json (summary + per-turn rows) and conversations.md in the report folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "config": run.config,
        "split": run.split,
        "gold_file": run.gold_file,
        "by_kind": summarise(run.results),
    }
    data = {**summary, "turns": records(run.results)}
    (out_dir / "conversations.json").write_text(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    section = render(run)
    (out_dir / "conversations.md").write_text(section, encoding="utf-8")
    report = out_dir / "report.md"
    if report.exists():  # the run's report gets the section too: one page to read
        report.write_text(report.read_text(encoding="utf-8") + "\n" + section, encoding="utf-8")
    return summary


def evaluate_conversations(
    pipeline: Pipeline,
    gold_file: Path,
    config_names: Sequence[str],
    split: str,
    progress: Progress | None = None,
) -> list[ConversationRun]:
    """The gold conversations replayed by every config that answers (`preset+backend`)."""
    from paperchat.evaluation.configs import load_presets, make_config
    from paperchat.evaluation.runner import shown_path

    papers, _ = load_papers(pipeline.settings.corpus.paths)
    conversations = select(read_conversations(gold_file, papers), split)
    presets = load_presets()
    runs: list[ConversationRun] = []
    for config in (make_config(name, presets) for name in config_names):
        if not config.backend:
            continue
        derived = pipeline.derive(config.settings_for(pipeline.settings))
        answerer = derived.answerer(config.backend)
        run = ConversationRun(config.name, split, shown_path(gold_file))
        run.results = replay(answerer, conversations, progress)
        runs.append(run)
    return runs


__all__ = [
    "CONVERSATIONS_FILE",
    "FIT",
    "ConversationRun",
    "evaluate_conversations",
    "read_conversations",
    "replay",
    "select",
    "summarise",
    "write",
]
