"""Gold question files -> typed `GoldItem`s, resolved to corpus paper ids and checked.

A gold file is JSONL, one question a line (schema in eval/gold/README.md): `id`, `type`,
`question`, `answer`, `gold_titles`, `must_include`, optional `gold_paper_ids`, `split` and, on
follow-up items, `history`. Gold papers are named by title and matched to the corpus with
`normalize_title`, so case, accents and punctuation do not matter.

`split` holds thresholds apart from the numbers reported: `fit` items are what thresholds are
calibrated on, `test` items what evaluation reports. The rule (`split_rule`): within each type,
in id order, items alternate fit, test, fit, ... An item without `split` belongs to both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from paperchat.corpus import normalize_title
from paperchat.errors import GoldError
from paperchat.records import Paper, Turn

UNANSWERABLE = "unanswerable"
FOLLOW_UP = "follow-up"
PAPER_NAME = "paper-name"
ITEM_TYPES = (
    "factoid",
    "which-paper",
    "multi-paper",
    "paraphrase",
    UNANSWERABLE,
    FOLLOW_UP,
    PAPER_NAME,
    "keywords",
    "comparison",
)
FIT, TEST, ALL = "fit", "test", "all"
SPLITS = (FIT, TEST)
ROLES = ("user", "assistant")
REQUIRED_TEXT = ("id", "type", "question", "answer")
STRING_LISTS = ("gold_titles", "must_include", "gold_paper_ids")


@dataclass(frozen=True, slots=True)
class GoldItem:
    """One gold question with what a correct retrieval and answer contain."""

    id: str
    type: str
    question: str
    answer: str
    gold_titles: tuple[str, ...] = ()
    must_include: tuple[str, ...] = ()
    gold_paper_ids: tuple[str, ...] = ()  # from the file, or resolved from the titles
    history: tuple[Turn, ...] = ()
    split: str = ""  # "fit" | "test"; "" = both
    path: str = ""
    line: int = 0

    @property
    def answerable(self) -> bool:
        return self.type != UNANSWERABLE

    @property
    def where(self) -> str:
        """`file:line (id)`: where a problem with this item is fixed."""
        return f"{self.path}:{self.line} ({self.id})"


# -- reading ---------------------------------------------------------------------------------


def _text(record: dict, key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'"{key}" must be a non-empty string')
    return value.strip()


def _strings(record: dict, key: str) -> tuple[str, ...]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f'"{key}" must be a list of non-empty strings')
    return tuple(v.strip() for v in value)


def _history(record: dict) -> tuple[Turn, ...]:
    value = record.get("history", [])
    if not isinstance(value, list):
        raise ValueError('"history" must be a list of {"role", "content"} objects')
    turns: list[Turn] = []
    for i, turn in enumerate(value):
        ok = isinstance(turn, dict) and turn.get("role") in ROLES
        if not ok or not isinstance(turn.get("content"), str):
            raise ValueError(
                f'"history"[{i}] must be {{"role": "user"|"assistant", "content": str}}'
            )
        turns.append(Turn(role=turn["role"], content=turn["content"]))
    return tuple(turns)


def parse_item(record: object, path: str, line: int) -> GoldItem:
    """One decoded JSON line -> GoldItem; ValueError says which field is wrong."""
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    fields = {key: _text(record, key) for key in REQUIRED_TEXT}
    lists = {key: _strings(record, key) for key in STRING_LISTS}
    split = record.get("split", "")
    if split not in ("", *SPLITS):
        raise ValueError(f'"split" must be one of {", ".join(SPLITS)} (or left out)')
    return GoldItem(**fields, **lists, history=_history(record), split=split, path=path, line=line)


def read_gold(path: Path) -> tuple[list[GoldItem], list[str]]:
    """Every well-formed item of a file, and one problem per malformed line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise GoldError(f"{path}: cannot read the gold file ({e}); check the path.") from e
    items: list[GoldItem] = []
    problems: list[str] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            items.append(parse_item(json.loads(raw), str(path), number))
        except json.JSONDecodeError as e:
            problems.append(f"{path}:{number}: malformed JSON ({e.msg} at column {e.colno})")
        except ValueError as e:
            problems.append(f"{path}:{number}: {_id_of(raw)}{e}")
    if not items and not problems:
        problems.append(f"{path}: no gold items (expected one JSON object a line)")
    return items, problems


def _id_of(raw: str) -> str:
    try:
        record = json.loads(raw)
    except ValueError:
        return ""
    item_id = record.get("id") if isinstance(record, dict) else None
    return f"({item_id}) " if isinstance(item_id, str) else ""


def load_gold(paths: Iterable[Path]) -> list[GoldItem]:
    """All items of these files; raises GoldError listing every malformed line."""
    items: list[GoldItem] = []
    problems: list[str] = []
    for path in paths:
        found, bad = read_gold(Path(path))
        items.extend(found)
        problems.extend(bad)
    if problems:
        listed = "\n  ".join(problems)
        raise GoldError(
            f"malformed gold items:\n  {listed}\nFix these lines (`paperchat gold-check` "
            "lists every problem)."
        )
    return items


def split_rule(items: Sequence[GoldItem]) -> dict[str, str]:
    """The split each item belongs in: per type, in id order, alternately fit and test."""
    by_type: dict[str, list[str]] = {}
    for item in items:
        by_type.setdefault(item.type, []).append(item.id)
    return {
        item_id: SPLITS[i % 2] for ids in by_type.values() for i, item_id in enumerate(sorted(ids))
    }


def select_split(items: Sequence[GoldItem], split: str) -> list[GoldItem]:
    """The items of one split (`all`: every item); an item without a split is in both."""
    if split not in (*SPLITS, ALL):
        raise GoldError(f"Unknown gold split {split!r}; allowed: {FIT}, {TEST}, {ALL}.")
    return [i for i in items if split == ALL or not i.split or i.split == split]


# -- resolving titles ------------------------------------------------------------------------


def title_index(papers: Iterable[Paper]) -> dict[str, Paper]:
    return {normalize_title(p.title): p for p in papers}


def resolve(items: Sequence[GoldItem], papers: Sequence[Paper]) -> list[GoldItem]:
    """Fill `gold_paper_ids` from the titles where the file gave none; unknown titles drop out.

    `check_gold` reports the unknown titles; resolution itself never fails, so a run over a
    slightly stale gold file still measures what it can.
    """
    by_title = title_index(papers)
    resolved: list[GoldItem] = []
    for item in items:
        if item.gold_paper_ids:
            resolved.append(item)
            continue
        found = (by_title.get(normalize_title(t)) for t in item.gold_titles)
        ids = tuple(dict.fromkeys(p.paper_id for p in found if p is not None))
        resolved.append(replace(item, gold_paper_ids=ids))
    return resolved


# -- checking --------------------------------------------------------------------------------


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """`phrase` on word boundaries, case-insensitive, any run of spaces matching any other."""
    body = r"\s+".join(re.escape(part) for part in phrase.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def contains_phrase(text: str, phrase: str) -> bool:
    return bool(phrase.strip()) and phrase_pattern(phrase).search(text) is not None


def check_gold(items: Sequence[GoldItem], papers: Sequence[Paper]) -> list[str]:
    """Every problem of a gold set against a corpus, one message per problem, in file order."""
    by_title = title_index(papers)
    by_id = {p.paper_id: p for p in papers}
    seen: dict[str, GoldItem] = {}
    problems: list[str] = []
    for item in items:
        if item.id in seen:
            problems.append(f"{item.where}: duplicate id, first used at {seen[item.id].where}")
        seen.setdefault(item.id, item)
        problems.extend(f"{item.where}: {p}" for p in _item_problems(item, by_title, by_id))
    return problems


def _item_problems(
    item: GoldItem, by_title: dict[str, Paper], by_id: dict[str, Paper]
) -> list[str]:
    problems = _shape_problems(item)
    gold: list[Paper] = []
    for title in item.gold_titles:
        paper = by_title.get(normalize_title(title))
        if paper is None:
            problems.append(f"unknown title {title!r}: no corpus paper has this title")
        else:
            gold.append(paper)
    for paper_id in item.gold_paper_ids:
        if paper_id not in by_id:
            problems.append(f"unknown paper id {paper_id!r}: not in the corpus")
        elif all(p.paper_id != paper_id for p in gold):
            gold.append(by_id[paper_id])
    abstracts = [p.abstract for p in gold]
    for phrase in item.must_include:
        if abstracts and not any(contains_phrase(a, phrase) for a in abstracts):
            problems.append(
                f"must_include {phrase!r} is not in any gold abstract "
                "(case-insensitive, on word boundaries)"
            )
    return problems


def _shape_problems(item: GoldItem) -> list[str]:
    """Problems visible without the corpus: type, and gold papers against answerability."""
    if item.type not in ITEM_TYPES:
        return [f"unknown type {item.type!r}; allowed: {', '.join(ITEM_TYPES)}"]
    has_gold = bool(item.gold_titles or item.gold_paper_ids)
    problems: list[str] = []
    if item.answerable and not has_gold:
        problems.append("answerable item without gold papers (gold_titles is empty)")
    if not item.answerable and has_gold:
        problems.append("unanswerable item with gold papers; empty gold_titles or change type")
    if not item.answerable and item.must_include:
        problems.append("unanswerable item with must_include strings; empty them")
    if item.type == FOLLOW_UP and not item.history:
        problems.append("follow-up item without history")
    return problems
