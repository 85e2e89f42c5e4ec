"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from paperchat.evaluation.metrics import (
    abstention_stats,
    capped_recall_at_k,
    citation_precision,
    citation_recall,
    latency_summary,
    mean,
    mrr,
    must_include_match,
    must_include_score,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
)

RANKED = ["a", "x", "b", "y", "c"]


@pytest.mark.parametrize(
    ("gold", "k", "expected"),
    [
        ({"a"}, 1, 1.0),
        ({"b"}, 1, 0.0),
        ({"b"}, 3, 1.0),
        ({"a", "b"}, 1, 1.0),  # top paper is gold: the most k=1 can hold
        ({"a", "b"}, 2, 0.5),  # x at 2: one of two
        ({"a", "b", "c"}, 3, 2 / 3),
        ({"a", "b", "c"}, 5, 1.0),
        ({"a", "b", "z"}, 10, 2 / 3),  # z never retrieved
        ({"z"}, 5, 0.0),
        (set(), 5, 0.0),
    ],
)
def test_capped_recall_at_k(gold, k, expected) -> None:
    assert capped_recall_at_k(RANKED, gold, k) == pytest.approx(expected)


def test_capped_recall_counts_a_paper_retrieved_twice_once() -> None:
    assert capped_recall_at_k(["a", "a"], {"a", "b"}, 2) == 0.5
    assert capped_recall_at_k(["a", "a", "b"], {"a", "b"}, 2) == 1.0  # b moves up to rank 2


def test_standard_recall_divides_by_all_gold_papers() -> None:
    # Hand-computed: gold {a, b, c}; top 1 holds a (1/3), top 3 holds a and b (2/3).
    assert recall_at_k(RANKED, {"a", "b", "c"}, 1) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, {"a", "b", "c"}, 3) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, {"a", "b", "c"}, 5) == 1.0
    assert recall_at_k(RANKED, {"a", "b"}, 1) == 0.5  # capped recall says 1.0 here
    assert recall_at_k(["a", "a", "b"], {"a", "b"}, 2) == 1.0  # a duplicate counts once


def test_recall_mrr_and_ndcg_match_ranx() -> None:
    ranx = pytest.importorskip("ranx")
    golds = {"q1": {"a", "b", "c"}, "q2": {"x"}, "q3": {"b", "z"}, "q4": {"q"}}
    runs = {
        "q1": ["a", "x", "b", "y", "c"],
        "q2": ["a", "b", "x"],
        "q3": ["z", "a", "y", "b"],
        "q4": ["a", "b"],
    }
    qrels = ranx.Qrels({q: dict.fromkeys(g, 1) for q, g in golds.items()})
    run = ranx.Run({q: {p: 1.0 / (i + 1) for i, p in enumerate(r)} for q, r in runs.items()})
    names = ["recall@1", "recall@3", "recall@5", "mrr", "ndcg@5", "ndcg@10"]
    expected = ranx.evaluate(qrels, run, names)
    ours = {
        **{f"recall@{k}": [recall_at_k(runs[q], golds[q], k) for q in runs] for k in (1, 3, 5)},
        "mrr": [reciprocal_rank(runs[q], golds[q]) for q in runs],
        **{f"ndcg@{k}": [ndcg_at_k(runs[q], golds[q], k) for q in runs] for k in (5, 10)},
    }
    for name in names:
        assert sum(ours[name]) / len(runs) == pytest.approx(expected[name]), name


def test_reciprocal_rank_and_mrr() -> None:
    assert reciprocal_rank(RANKED, {"b", "c"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKED, {"z"}) == 0.0
    # 1, 1/2 and 0 -> 0.5
    assert mrr([["a"], ["x", "a"], ["x"]], [{"a"}, {"a"}, {"a"}]) == pytest.approx(0.5)


def test_ndcg_single_gold() -> None:
    assert ndcg_at_k(RANKED, {"a"}, 5) == pytest.approx(1.0)
    # gold at rank 3: (1/log2 4) / 1
    assert ndcg_at_k(RANKED, {"b"}, 5) == pytest.approx(0.5)
    assert ndcg_at_k(RANKED, {"b"}, 2) == 0.0


def test_ndcg_several_gold() -> None:
    # gold a (rank 1) and b (rank 3): (1 + 1/2) / (1 + 1/log2 3)
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k(RANKED, {"a", "b"}, 5) == pytest.approx(expected)
    # ideal DCG at k=1 holds only one gain
    assert ndcg_at_k(RANKED, {"a", "b"}, 1) == pytest.approx(1.0)
    # a missing gold paper still counts in the ideal ranking
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at_k(["a"], {"a", "z"}, 5) == pytest.approx(1 / ideal)


@pytest.mark.parametrize(
    ("text", "phrase", "found"),
    [
        ("We propose STAR, a method.", "STAR", True),
        ("Training could start early.", "STAR", False),
        ("the star-shaped graph", "STAR", True),  # a hyphen is a word boundary
        ("reaches 39.50\\% accuracy", "39.50", True),
        ("reaches 139.50 points", "39.50", False),
        ("cuts cost by 45%.", "45%", True),
        ("FILIP300M is large", "FILIP", False),
        ("replaced  token\ndetection", "replaced token detection", True),
        ("anything", "", False),
    ],
)
def test_must_include_match_is_case_insensitive_on_word_boundaries(text, phrase, found) -> None:
    assert must_include_match(text, phrase) is found


def test_must_include_score() -> None:
    assert must_include_score("ELECTRA uses 1/4 of the compute", ["ELECTRA", "1/4"]) == 1.0
    assert must_include_score("ELECTRA is small", ["ELECTRA", "1/4"]) == 0.5
    assert must_include_score("whatever", []) == 1.0


def test_citation_precision_and_recall() -> None:
    assert citation_precision(["a", "b", "c", "c"], {"a", "z"}) == pytest.approx(1 / 3)
    assert citation_precision([], {"a"}) is None  # nothing cited: undefined, not zero
    assert citation_recall(["a", "b"], {"a", "z"}) == 0.5
    assert citation_recall([], {"a"}) == 0.0
    assert citation_recall(["a"], set()) == 0.0


def test_abstention_stats() -> None:
    # (answerable, abstained)
    stats = abstention_stats(
        [(False, True), (False, True), (False, False), (True, False), (True, True), (True, False)]
    )
    assert (stats.unanswerable, stats.abstained_right) == (3, 2)
    assert (stats.answerable, stats.declined_wrongly) == (3, 1)
    assert stats.right_rate == pytest.approx(2 / 3)
    assert stats.wrong_rate == pytest.approx(1 / 3)
    assert abstention_stats([(True, False)]).right_rate is None
    assert stats.to_dict()["right_rate"] == stats.right_rate


def test_percentiles_interpolate_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(8.8)  # 4 + 0.8 * (10 - 4)
    assert percentile([5.0], 95) == 5.0
    assert percentile([], 50) == 0.0
    assert latency_summary(values) == {"p50": 3.0, "p95": pytest.approx(8.8), "mean": 4.0}
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile(values, 101)


def test_mean_skips_undefined_values() -> None:
    assert mean([1.0, None, 0.0]) == 0.5
    assert mean([None]) == 0.0


def test_invalid_citations_counts_markers_naming_no_cited_retrieved_paper() -> None:
    from paperchat.evaluation.runner import invalid_citations
    from paperchat.records import Answer, Citation, Hit

    hits = [Hit(f"p{i}", f"Paper {i}", 1.0, "text") for i in (1, 2)]
    good = Citation(n=1, paper_id="p1", title="Paper 1", url=None)
    answer = Answer(text="A [1]. B [1].", citations=[good], hits=hits)
    assert invalid_citations(answer) == 0
    answer.text = "A [1]. B [2]. C [7]."  # [2] was retrieved but not cited; [7] is no source
    assert invalid_citations(answer) == 2
    wrong = Citation(n=1, paper_id="p2", title="Paper 2", url=None)  # n points at another paper
    assert invalid_citations(Answer(text="A [1].", citations=[wrong], hits=hits)) == 1
