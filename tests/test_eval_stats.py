"""Unit tier: bootstrap intervals, the paired test, the CI gate and run comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

from paperchat.cli import main
from paperchat.errors import ConfigError
from paperchat.evaluation.compare import compare_runs
from paperchat.evaluation.gate import metric_name, parse_floors
from paperchat.evaluation.stats import bootstrap, paired_difference


def test_intervals_cover_the_known_mean_of_synthetic_data():
    rng = np.random.default_rng(42)
    truth = 0.7
    covered = 0
    for trial in range(100):
        sample = (rng.random(200) < truth).astype(float).tolist()
        estimate = bootstrap(sample, resamples=500, seed=trial)
        assert estimate is not None and estimate.low <= estimate.value <= estimate.high
        covered += estimate.low <= truth <= estimate.high
    assert covered >= 88  # a 95% interval: about 95 of 100, allowing sampling noise


def test_intervals_are_seeded_and_degenerate_cases_are_explicit():
    values = [0.0, 1.0, 1.0, 0.5, 1.0]
    assert bootstrap(values) == bootstrap(values)
    assert bootstrap([]) is None
    one = bootstrap([0.4])
    assert one is not None and (one.low, one.high) == (0.4, 0.4)


def test_paired_test_flags_a_planted_difference_and_not_a_null_one():
    rng = np.random.default_rng(7)
    a = rng.random(150)
    better = np.clip(a + 0.08 + rng.normal(0, 0.05, 150), 0, 1)
    same = np.clip(a + rng.normal(0, 0.05, 150), 0, 1)
    planted = paired_difference(a.tolist(), better.tolist())
    null = paired_difference(a.tolist(), same.tolist())
    assert planted is not None and planted.significant and planted.low > 0
    assert planted.p_value < 0.05
    assert null is not None and not null.significant and null.p_value > 0.05
    with pytest.raises(ValueError, match="same items"):
        paired_difference([1.0], [1.0, 0.0])


def test_fail_under_floors_name_metrics_as_the_report_does():
    floors = parse_floors("R@5=0.95, citation_precision=0.9,MRR=0.8,nDCG@10=0.7")
    assert floors == {
        "recall@5": 0.95,
        "citation_precision": 0.9,
        "mrr": 0.8,
        "ndcg@10": 0.7,
    }
    assert metric_name("wrong_rate") == "wrong_rate"
    with pytest.raises(ConfigError, match="allowed: recall@1"):
        parse_floors("R@7x=0.5")
    with pytest.raises(ConfigError, match="METRIC=NUMBER"):
        parse_floors("R@5")


def _write_run(folder, config, scores):
    folder.mkdir()
    rows = [
        {"config": config, "id": f"q{i}", "type": "factoid" if i % 2 else "paraphrase", "scores": s}
        for i, s in enumerate(scores)
    ]
    (folder / "per_item.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_compare_reports_deltas_per_metric_and_type(tmp_path, capsys):
    rng = np.random.default_rng(3)
    before = [{"mrr": float(v), "recall@1": float(v > 0.5)} for v in rng.random(80)]
    after = [{"mrr": min(1.0, s["mrr"] + 0.2), "recall@1": s["recall@1"]} for s in before]
    _write_run(tmp_path / "a", "hybrid", before)
    _write_run(tmp_path / "b", "hybrid", after)
    deltas = {(d.scope, d.metric): d for d in compare_runs(tmp_path / "a", tmp_path / "b")}
    assert deltas[("all", "mrr")].difference.significant
    assert deltas[("all", "mrr")].difference.delta > 0.1
    assert not deltas[("all", "recall@1")].difference.significant
    assert ("factoid", "mrr") in deltas and ("paraphrase", "mrr") in deltas

    assert main(["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    printed = capsys.readouterr().out
    assert "## hybrid, all items" in printed and "| mrr | 80 |" in printed
    assert (tmp_path / "b" / "compare-a.md").is_file()


def test_compare_of_a_folder_without_per_item_rows_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    assert main(["eval", "compare", str(tmp_path / "a"), str(tmp_path / "a")]) == 2
    assert "per_item.jsonl is missing" in capsys.readouterr().err
