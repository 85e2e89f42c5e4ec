"""Gold files: the shipped set passes the checker, and every kind of defect is caught."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from paperchat.cli import main
from paperchat.corpus import load_papers, paper_id_for
from paperchat.errors import GoldError
from paperchat.evaluation.configs import GOLD_FILE
from paperchat.evaluation.gold import (
    FIT,
    ITEM_TYPES,
    TEST,
    check_gold,
    load_gold,
    read_gold,
    resolve,
    select_split,
    split_rule,
)
from paperchat.evaluation.runner import retrieval_query, sample
from paperchat.settings import SHIPPED_CORPUS

ELECTRA = "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators"


@pytest.fixture(scope="module")
def papers():
    found, _ = load_papers([SHIPPED_CORPUS])
    return found


@pytest.fixture(scope="module")
def shipped():
    return load_gold([GOLD_FILE])


def item(**overrides) -> dict:
    base = {
        "id": "fact-900",
        "type": "factoid",
        "question": "How much compute does ELECTRA need compared to RoBERTa?",
        "answer": "Less than 1/4 of the compute.",
        "gold_titles": [ELECTRA],
        "must_include": ["1/4"],
    }
    return {**base, **overrides}


def write(tmp_path: Path, *records: dict | str) -> Path:
    path = tmp_path / "gold.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def problems_of(tmp_path: Path, papers, *records: dict | str) -> list[str]:
    items, bad = read_gold(write(tmp_path, *records))
    return bad + check_gold(items, papers)


# -- the shipped set -------------------------------------------------------------------------


def test_shipped_gold_passes_the_checker(shipped, papers) -> None:
    assert len(shipped) == 278
    assert check_gold(shipped, papers) == []
    assert {i.type for i in shipped} == set(ITEM_TYPES)


def test_shipped_items_follow_the_split_rule(shipped) -> None:
    # Thresholds are fitted on "fit" and reported on "test": each item is in one, by the rule.
    assert {i.id: i.split for i in shipped} == split_rule(shipped)
    for kind in ITEM_TYPES:
        fit = [i for i in shipped if i.type == kind and i.split == FIT]
        test = [i for i in shipped if i.type == kind and i.split == TEST]
        assert abs(len(fit) - len(test)) <= 1, kind


def test_select_split_keeps_unsplit_items_in_both(shipped) -> None:
    unsplit = replace(shipped[0], split="")
    items = [unsplit, *shipped[1:]]
    test = select_split(items, TEST)
    fit = select_split(items, FIT)
    assert unsplit in test and unsplit in fit
    assert len(select_split(items, "all")) == len(items)
    assert {i.split for i in test} == {TEST, ""}
    with pytest.raises(GoldError, match="allowed: fit, test, all"):
        select_split(items, "train")


def test_shipped_titles_resolve_to_corpus_ids(shipped, papers) -> None:
    resolved = resolve(shipped, papers)
    ids = {p.paper_id for p in papers}
    for gold in resolved:
        assert len(gold.gold_paper_ids) == len(gold.gold_titles), gold.id
        assert set(gold.gold_paper_ids) <= ids
    electra = next(g for g in resolved if g.id == "follow-001")
    assert electra.gold_paper_ids == (paper_id_for(ELECTRA),)
    assert [t.role for t in electra.history] == ["user", "assistant"]


def test_titles_match_despite_case_and_punctuation(tmp_path, papers) -> None:
    record = item(
        gold_titles=["electra pre-training text encoders as discriminators, rather than generators"]
    )
    (gold,) = resolve(load_gold([write(tmp_path, record)]), papers)
    assert gold.gold_paper_ids == (paper_id_for(ELECTRA),)
    assert check_gold([gold], papers) == []


def test_explicit_gold_paper_ids_are_kept(tmp_path, papers) -> None:
    record = item(gold_titles=[], gold_paper_ids=[paper_id_for(ELECTRA)])
    (gold,) = resolve(load_gold([write(tmp_path, record)]), papers)
    assert gold.gold_paper_ids == (paper_id_for(ELECTRA),)
    assert check_gold([gold], papers) == []


# -- defects ---------------------------------------------------------------------------------


def test_duplicate_ids_name_both_lines(tmp_path, papers) -> None:
    (problem,) = problems_of(tmp_path, papers, item(), item())
    assert "gold.jsonl:2 (fact-900): duplicate id, first used at" in problem
    assert "gold.jsonl:1 (fact-900)" in problem


def test_unknown_title(tmp_path, papers) -> None:
    (problem,) = problems_of(tmp_path, papers, item(gold_titles=["A Paper Nobody Wrote"]))
    assert ":1 (fact-900): unknown title 'A Paper Nobody Wrote'" in problem


def test_unknown_paper_id(tmp_path, papers) -> None:
    (problem,) = problems_of(tmp_path, papers, item(gold_paper_ids=["0123456789abcdef"]))
    assert "unknown paper id '0123456789abcdef'" in problem


@pytest.mark.parametrize("phrase", ["1/5", "ELECTRAS", "generat"])
def test_must_include_not_in_any_gold_abstract(tmp_path, papers, phrase) -> None:
    (problem,) = problems_of(tmp_path, papers, item(must_include=[phrase]))
    assert f"must_include {phrase!r} is not in any gold abstract" in problem


def test_must_include_is_case_insensitive(tmp_path, papers) -> None:
    assert (
        problems_of(
            tmp_path, papers, item(must_include=["masked LANGUAGE modeling", "REPLACED TOKEN"])
        )
        == []
    )


def test_unknown_type_lists_the_allowed_ones(tmp_path, papers) -> None:
    (problem,) = problems_of(tmp_path, papers, item(type="trivia"))
    assert "unknown type 'trivia'; allowed: factoid, which-paper" in problem


def test_answerable_item_without_gold_papers(tmp_path, papers) -> None:
    (problem,) = problems_of(tmp_path, papers, item(gold_titles=[], must_include=[]))
    assert "answerable item without gold papers" in problem


def test_unanswerable_item_with_gold_papers(tmp_path, papers) -> None:
    problems = problems_of(tmp_path, papers, item(id="unans-900", type="unanswerable"))
    assert any("unanswerable item with gold papers" in p for p in problems)
    assert any("unanswerable item with must_include" in p for p in problems)


def test_follow_up_without_history(tmp_path, papers) -> None:
    (problem,) = problems_of(tmp_path, papers, item(type="follow-up"))
    assert "follow-up item without history" in problem


def test_malformed_lines_are_reported_with_line_numbers(tmp_path, papers) -> None:
    problems = problems_of(
        tmp_path,
        papers,
        item(id="fact-901"),
        '{"id": "fact-902", "type": ',
        "",
        item(id="fact-903", question=""),
        item(id="fact-904", history=[{"role": "robot", "content": "hi"}]),
        "[1, 2]",
    )
    assert problems[0].endswith("gold.jsonl:2: malformed JSON (Expecting value at column 28)")
    assert 'gold.jsonl:4: (fact-903) "question" must be a non-empty string' in problems[1]
    assert 'gold.jsonl:5: (fact-904) "history"[0] must be' in problems[2]
    assert "gold.jsonl:6: expected a JSON object" in problems[3]
    assert len(problems) == 4


def test_load_gold_refuses_malformed_files(tmp_path) -> None:
    path = write(tmp_path, item(), "not json")
    with pytest.raises(GoldError, match=r"(?s)gold.jsonl:2: malformed JSON.*gold-check"):
        load_gold([path])
    with pytest.raises(GoldError, match="cannot read"):
        load_gold([tmp_path / "missing.jsonl"])


# -- selection helpers -----------------------------------------------------------------------


def test_limit_spreads_over_types(shipped) -> None:
    picked = sample(shipped, 12)
    assert len(picked) == 12
    assert {i.type for i in picked} == set(ITEM_TYPES)
    assert sample(shipped, 12) == picked  # deterministic
    assert sample(shipped, None) == list(shipped)


def test_follow_ups_are_searched_with_the_last_user_turn(shipped) -> None:
    follow = next(i for i in shipped if i.id == "follow-001")
    assert retrieval_query(follow) == f"Which paper introduces ELECTRA? {follow.question}"
    factoid = next(i for i in shipped if i.type == "factoid")
    assert retrieval_query(factoid) == factoid.question


# -- CLI -------------------------------------------------------------------------------------


def test_gold_check_command(tmp_path, capsys) -> None:
    assert main(["gold-check", str(GOLD_FILE)]) == 0
    assert "278 items, 0 problems" in capsys.readouterr().out
    bad = write(tmp_path, item(), item(gold_titles=["Nope"]))
    assert main(["gold-check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "duplicate id" in out and "unknown title 'Nope'" in out and "2 problems" in out
