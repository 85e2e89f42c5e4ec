"""End-to-end evaluation runs over the real ingested corpus (embedded Qdrant, real embedder)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from fakes import FakeJudgeServer
from paperchat.cli import main
from paperchat.corpus import load_papers
from paperchat.errors import ConfigError
from paperchat.evaluation.baseline import LlamaIndexBaseline
from paperchat.evaluation.configs import GOLD_FILE, load_presets, make_config
from paperchat.evaluation.judge import Judge, parse_score
from paperchat.evaluation.report import default_out_dir, write_report
from paperchat.evaluation.runner import evaluate, retrieval_abstains, shown_path
from paperchat.evaluation.summary import summarise
from paperchat.llm.gguf import local_model_folder
from paperchat.records import Hit
from paperchat.settings import SHIPPED_CORPUS, AnswerSettings, EvalSettings, LLMSettings

RETRIEVAL_CONFIGS = ["sparse", "dense", "hybrid"]
TINY = 10
ELECTRA_TITLE = "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators"


def read_report(folder: Path) -> tuple[dict, str]:
    for png in ("recall_at_k.png", "by_type.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((folder / "metrics.json").read_text())
    return metrics, (folder / "report.md").read_text()


@pytest.fixture(scope="module")
def retrieval_report(ingested, tmp_path_factory) -> tuple[dict, str]:
    steps: list[str] = []
    run = evaluate(
        ingested,
        [GOLD_FILE],
        RETRIEVAL_CONFIGS,
        limit=TINY,
        progress=lambda config, total: steps.append(f"{config}/{total}"),
    )
    assert steps == [f"{c}/{TINY * 3}" for c in RETRIEVAL_CONFIGS for _ in range(TINY)]
    folder = tmp_path_factory.mktemp("report")
    write_report(summarise(run, "tiny", command="paperchat eval --limit 10"), folder)
    return read_report(folder)


def test_retrieval_metrics_cover_answerable_items_only(retrieval_report) -> None:
    metrics, _ = retrieval_report
    assert metrics["items"]["total"] == TINY
    answerable = metrics["items"]["answerable"]
    assert 0 < answerable < TINY  # the round-robin limit picks an unanswerable item too
    for name in RETRIEVAL_CONFIGS:
        config = metrics["configs"][name]
        overall = config["retrieval"]["overall"]
        assert overall["n"] == answerable
        assert len(overall["curve"]) == 10
        for key in ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10"):
            assert 0.0 <= overall[key] <= 1.0
        assert "unanswerable" not in config["retrieval"]["by_type"]
        assert config["abstention"]["unanswerable"] == TINY - answerable
        assert config["answers"] is None
        assert config["latency"]["retrieve"]["p95"] >= config["latency"]["retrieve"]["p50"] > 0
    assert metrics["configs"]["hybrid"]["retrieval"]["overall"]["recall@10"] >= 0.8
    assert overall["intervals"]["mrr"][0] <= overall["mrr"] <= overall["intervals"]["mrr"][1]
    assert metrics["bootstrap"]["resamples"] > 0 and metrics["split"] == "test"


def test_retrieval_only_abstention_uses_the_answerers_rule() -> None:
    rule = AnswerSettings(abstain_threshold=0.2, coverage_threshold=0.5, coverage_relevance=0.6)

    def abstained(hits: list[Hit], sentence: float = 0.5) -> bool:
        return retrieval_abstains(hits, rule, lambda: sentence)

    def hit(relevance: float, coverage: float) -> Hit:
        return Hit("p", "A paper", 0.1, "text", relevance=relevance, coverage=coverage)

    assert abstained([hit(0.45, 0.2)])  # relevance alone would have answered
    assert not abstained([hit(0.45, 0.9)])
    assert not abstained([hit(0.7, 0.2)])  # a paraphrase: close in meaning, other words
    assert abstained([hit(0.7, 0.2)], sentence=0.4)  # ... but no sentence restates it
    assert abstained([])


def test_report_tables_winners_and_worst_questions(retrieval_report) -> None:
    metrics, report = retrieval_report
    assert report.startswith("# Evaluation: tiny")
    assert "`paperchat eval --limit 10`" in report
    for heading in (
        "## Retrieval (answerable items)",
        "## Retrieval by question type",
        "## Abstention",
        "## Latency",
        "## Worst questions",
    ):
        assert heading in report
    assert "## Answers" not in report  # retrieval-only run
    assert "| hybrid | hybrid | - |" in report
    assert "![recall_at_k](recall_at_k.png)" in report
    assert set(metrics["winners"]["retrieval"]["mrr"]) <= set(RETRIEVAL_CONFIGS)
    assert "Retrieved:" in report and "Gold answer: " in report
    assert "split `test`" in report and "percentile bootstrap" in report
    assert re.search(r"\| hybrid \| \d+ \| \**\d\.\d{3}\** \[\d\.\d{2}, \d\.\d{2}\]", report)


def test_default_report_folder_is_dated() -> None:
    from datetime import date

    folder = default_out_dir("hybrid+local dense", date(2026, 1, 2))
    assert folder.parts[-3:] == ("eval", "reports", "2026-01-02-hybrid-local-dense")


# -- configs ---------------------------------------------------------------------------------


def test_presets_and_backends_compose(ingested) -> None:
    presets = load_presets()
    assert {"sparse", "dense", "hybrid", "llamaindex"} <= set(presets)
    config = make_config("hybrid+extractive", presets)
    assert (config.retriever, config.backend) == ("hybrid", "extractive")
    settings = make_config("sparse", presets).settings_for(ingested.settings)
    assert settings.retrieval.mode == "sparse" and settings.llm.temperature == 0.0
    with pytest.raises(ConfigError, match="presets: sparse, dense"):
        make_config("bm42", presets)
    with pytest.raises(ConfigError, match="allowed: extractive, local, vllm"):
        make_config("hybrid+gpt", presets)
    with pytest.raises(ConfigError, match="retrieval-only"):
        make_config("llamaindex+extractive", presets)


def test_preset_overrides_run_on_the_shared_client(ingested, tmp_path) -> None:
    path = tmp_path / "presets.toml"
    path.write_text(
        '[tuned]\nretriever = "hybrid"\n[tuned.settings.retrieval]\nsparse_weight = 2.0\n'
        '[broken]\nretriever = "hybrid"\n[broken.settings.retrieval]\nprefetch = -1\n'
    )
    presets = load_presets(path)
    tuned = presets["tuned"].settings_for(ingested.settings)
    assert tuned.retrieval.sparse_weight == 2.0
    assert tuned.retrieval.dense_weight == ingested.settings.retrieval.dense_weight
    run = evaluate(ingested, [GOLD_FILE], ["tuned"], limit=3, presets=presets)
    assert len(run.results["tuned"]) == 3
    with pytest.raises(ConfigError, match=r"config 'broken': bad \[retrieval\] override"):
        presets["broken"].settings_for(ingested.settings)
    path.write_text('[odd]\nretriever = "bm25"\n')
    with pytest.raises(ConfigError, match="allowed: hybrid, dense, sparse, llamaindex"):
        load_presets(path)


# -- the LlamaIndex baseline -----------------------------------------------------------------


def test_llamaindex_baseline_ranks_papers_not_chunks(ingested, tmp_path) -> None:
    papers, _ = load_papers([SHIPPED_CORPUS])
    few = [p for p in papers if p.title.startswith(("ELECTRA", "DeBERTaV3", "FILIP", "EMMA"))]
    chunks = list(ingested.chunker.split_all(few))
    client = QdrantClient(path=str(tmp_path / "qdrant"))  # its own folder: a second client is fine
    try:
        baseline = LlamaIndexBaseline(client, ingested.embedder, chunks, "test")
        hits = baseline.search("replaced token detection discriminator", k=3)
        assert hits[0].title.startswith("ELECTRA")
        assert len({h.paper_id for h in hits}) == len(hits) == 3
        assert all(h.relevance is not None and -1 <= h.relevance <= 1 for h in hits)
        again = LlamaIndexBaseline(client, ingested.embedder, chunks, "test")  # reused
        assert again.collection == baseline.collection
        fewer = LlamaIndexBaseline(client, ingested.embedder, chunks[:-1], "test")
        names = {c.name for c in client.get_collections().collections}
        assert names == {fewer.collection}  # the stale build was dropped
    finally:
        client.close()


# -- answers ---------------------------------------------------------------------------------


def test_answer_path_with_extractive_backend(ingested, tmp_path) -> None:
    run = evaluate(ingested, [GOLD_FILE], ["hybrid+extractive"], limit=TINY)
    metrics, report = read_report_of(run, tmp_path)
    config = metrics["configs"]["hybrid+extractive"]
    answers = config["answers"]
    assert answers["n"] == metrics["items"]["answerable"]
    assert 0.0 <= answers["must_include_accuracy"] <= answers["must_include_share"] <= 1.0
    assert answers["cited_share"] == 1.0  # every extractive sentence cites its paper
    assert answers["citation_precision"] > 0 and answers["citation_recall"] > 0
    assert answers["invalid_citations"] == 0
    assert answers["faithfulness"] is None  # no judge configured
    assert config["abstention"]["decided_by"] == "answerer"
    assert config["depth"] == ingested.settings.retrieval.k
    assert "recall@10" not in config["retrieval"]["overall"]  # answers see k papers only
    assert {"retrieve", "generate", "total"} <= set(config["latency"])
    assert config["answers_by_type"]["factoid"]["n"] >= 1
    assert "## Answers (answerable items)" in report and "Answer: " in report
    assert "Missed terms: " in report


def test_answers_on_weak_evidence_are_counted_as_tentative(ingested, tmp_path) -> None:
    near = "Which paper uses graph neural networks for traffic forecasting?"
    items = [
        {
            "id": "unans-1",
            "type": "unanswerable",
            "question": near,
            "answer": "Not covered.",
            "gold_titles": [],
            "must_include": [],
        },
        {
            "id": "name-1",
            "type": "paper-name",
            "question": "What is ELECTRA's pre-training task?",
            "answer": "Replaced token detection.",
            "gold_titles": [ELECTRA_TITLE],
            "must_include": ["replaced token detection"],
        },
    ]
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    run = evaluate(ingested, [gold], ["hybrid+extractive"])
    metrics, report = read_report_of(run, tmp_path / "report")
    answers = metrics["configs"]["hybrid+extractive"]["answers"]
    assert (answers["unanswerable_answered"], answers["unanswerable_tentative"]) == (1, 1)
    assert (answers["answered"], answers["tentative"]) == (1, 0)
    rows = [json.loads(line) for line in (tmp_path / "report" / "per_item.jsonl").open()]
    assert {r["id"]: r["tentative"] for r in rows} == {"unans-1": True, "name-1": False}
    assert "| tentative, unanswerable |" in report and "| 0/1 | 1/1 |" in report


def read_report_of(run, folder: Path) -> tuple[dict, str]:
    write_report(summarise(run, "answers"), folder)
    return read_report(folder)


def test_judge_scores_answers_when_configured(ingested) -> None:
    server = FakeJudgeServer()
    try:
        judge = Judge(EvalSettings(judge_url=server.url, judge_model="grader"))
        run = evaluate(ingested, [GOLD_FILE], ["hybrid+extractive"], limit=2, judge=judge)
    finally:
        server.close()
    scored = [r for r in run.results["hybrid+extractive"] if r.faithfulness is not None]
    assert scored and all(r.faithfulness == 0.75 for r in scored)
    request = server.requests[0]
    assert request["model"] == "grader" and request["temperature"] == 0.0
    assert "Sources:\n[1] " in request["messages"][0]["content"]


def test_judge_reply_parsing() -> None:
    assert parse_score('{"score": 0.5, "reason": "x"}') == 0.5
    assert parse_score('Sure! {"score": 1, "reason": "all supported"}') == 1.0
    assert parse_score('{"score": 7}') == 1.0
    assert parse_score("no idea") is None
    with pytest.raises(ConfigError, match="PAPERCHAT_EVAL_JUDGE_URL"):
        Judge(EvalSettings())


@pytest.mark.slow
def test_answer_path_with_the_local_llm(ingested, models_dir, tmp_path) -> None:
    folder = local_model_folder(LLMSettings(), models_dir)
    llm = ingested.settings.llm.model_copy(update={"local_model": folder})
    pipeline = ingested.derive(ingested.settings.model_copy(update={"llm": llm}))
    run = evaluate(pipeline, [GOLD_FILE], ["hybrid+local"], limit=3)
    metrics, _ = read_report_of(run, tmp_path)
    config = metrics["configs"]["hybrid+local"]
    assert config["answers"]["n"] >= 1
    answered = [r for r in run.results["hybrid+local"] if not r.answer.abstained]
    if answered:
        assert config["latency"]["tokens_per_s"] > 0


# -- CLI -------------------------------------------------------------------------------------


def test_eval_command_on_any_gold_file_and_corpus(tmp_path, monkeypatch, capsys) -> None:
    """A small corpus of its own (ingested on first use) and a gold file written for it."""
    papers, _ = load_papers([SHIPPED_CORPUS])
    few = [p for p in papers if p.title.startswith(("ELECTRA", "FILIP", "EMMA", "InSerter"))]
    electra = next(p for p in few if p.title.startswith("ELECTRA"))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in few)
    )
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        json.dumps(
            {
                "id": "q-1",
                "type": "which-paper",
                "question": "Which paper introduces replaced token detection?",
                "answer": "ELECTRA.",
                "gold_titles": [electra.title],
                "must_include": [],
            }
        )
        + "\n"
        + json.dumps(
            {
                "id": "q-2",
                "type": "unanswerable",
                "question": "Which paper studies quadruped robots?",
                "answer": "None.",
                "gold_titles": [],
                "must_include": [],
            }
        )
        + "\n"
    )
    monkeypatch.setenv("PAPERCHAT_CORPUS_PATHS", json.dumps([str(corpus)]))
    out = tmp_path / "report"
    args = ["eval", "--gold", str(gold), "--config", "hybrid", "llamaindex", "--out", str(out)]
    assert main([*args, "-q"]) == 0
    printed = capsys.readouterr().out
    assert "llamaindex" in printed and f"report: {out / 'report.md'}" in printed
    metrics, report = read_report(out)
    rows = [json.loads(line) for line in (out / "per_item.jsonl").read_text().splitlines()]
    assert {(r["config"], r["id"]) for r in rows} == {
        (c, q) for c in ("hybrid", "llamaindex") for q in ("q-1", "q-2")
    }
    electra_row = next(r for r in rows if r["config"] == "hybrid" and r["id"] == "q-1")
    assert electra_row["gold_answer"] == "ELECTRA." and electra_row["scores"]["recall@1"] == 1.0
    assert metrics["configs"]["hybrid"]["retrieval"]["overall"]["recall@1"] == 1.0
    assert metrics["configs"]["llamaindex"]["retrieval"]["overall"]["n"] == 1
    # Shown relative to the working folder when inside it, so a committed report is portable.
    assert f"--gold {shown_path(gold)} --config hybrid llamaindex" in report
    # The CI gate: a floor the run meets passes, one it cannot meet fails with a message.
    gate = [*args[:-1], str(tmp_path / "gated"), "-q", "--config", "hybrid"]
    assert main([*gate, "--fail-under", "R@1=0.9,MRR=0.9"]) == 0
    assert main([*gate, "--fail-under", "R@1=1.5"]) == 1
    assert "FAIL hybrid: recall@1 1.000 < 1.5" in capsys.readouterr().err
    assert main(["eval", "compare", str(out), str(tmp_path / "gated")]) == 0
    monkeypatch.chdir(tmp_path)
    assert shown_path(gold) == "gold.jsonl"
