"""Ingest into a real embedded Qdrant: incremental, repairable, and clear on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe

from paperchat.cli import main
from paperchat.corpus import paper_id_for
from paperchat.embedding import Embedder, make_embedder
from paperchat.ingest import Ingestor
from paperchat.pipeline import Pipeline
from paperchat.settings import SHIPPED_CORPUS, Settings

ABSTRACT = (
    "We study how {topic} changes the behaviour of language models during pre-training. "
    "Our experiments on twelve benchmarks show consistent gains over strong baselines, "
    "and an analysis explains where the improvements come from in detail."
)


def write_jsonl(path: Path, papers: dict[str, str]) -> Path:
    lines = [json.dumps({"title": t, "abstract": a}) for t, a in papers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def small_corpus(tmp_path: Path) -> Path:
    papers = {f"Paper about {t}": ABSTRACT.format(topic=t) for t in ("tokenizers", "curricula")}
    return write_jsonl(tmp_path / "small.jsonl", papers)


def test_reingest_of_the_shipped_corpus_changes_nothing(index_copy: Settings) -> None:
    pipeline = Pipeline(index_copy)
    try:
        before = pipeline.index.count_chunks()
        report = pipeline.ingestor.run([SHIPPED_CORPUS])
        assert report.chunks == 0
        assert sum(f.unchanged for f in report.files) == report.papers == 444
        assert pipeline.index.count_chunks() == before
        assert pipeline.index.count_papers() == 378
    finally:
        pipeline.close()


def test_reingest_stores_the_names_todays_rules_find_without_embedding_again(
    index_copy: Settings,
) -> None:
    # An index written by an earlier version: a paper's coined name ("Zecoler") is missing.
    pid = paper_id_for("Zero-Shot Code Representation Learning via Prompt Tuning")
    pipeline = Pipeline(index_copy)
    try:
        pipeline.index.update_paper(pid, {"names": []})
        assert not pipeline.retriever.search("Which paper introduced Zecoler?", k=3)[0].named
        report = pipeline.ingestor.run([SHIPPED_CORPUS])
        assert report.chunks == 0 and sum(f.unchanged for f in report.files) == 444
        assert pipeline.index.stored([pid])[pid].names == ("zecoler",)
        (top, *_) = pipeline.retriever.search("Which paper introduced Zecoler?", k=3)
        assert top.named and top.paper_id == pid
    finally:
        pipeline.close()


def test_edited_abstract_replaces_its_old_chunks(tmp_path: Path) -> None:
    pipeline = Pipeline(Settings(data_dir=tmp_path / "d"))
    try:
        source = small_corpus(tmp_path)
        pipeline.ingestor.run([source])
        edited = {
            "Paper about tokenizers": "A completely new abstract. " * 12,
            "Paper about curricula": ABSTRACT.format(topic="curricula"),
        }
        report = pipeline.ingestor.run([write_jsonl(source, edited)])
        assert (report.files[0].updated, report.files[0].unchanged) == (1, 1)
        stored = pipeline.index.stored([paper_id_for("Paper about tokenizers")])
        (only,) = stored.values()
        assert only.complete
        hits = pipeline.retriever.search("completely new abstract", k=1)
        assert "completely new abstract" in hits[0].text
        texts = [h.text for h in pipeline.retriever.search("tokenizers behaviour", k=5)]
        assert not any("tokenizers changes" in t for t in texts)  # old version is gone
    finally:
        pipeline.close()


def test_same_paper_in_two_files_is_one_paper_with_both_sources(tmp_path: Path) -> None:
    pipeline = Pipeline(Settings(data_dir=tmp_path / "d"))
    try:
        first = small_corpus(tmp_path)
        second = write_jsonl(
            tmp_path / "again.jsonl", {"Paper about curricula": ABSTRACT.format(topic="curricula")}
        )
        pipeline.ingestor.run([first, second])
        assert pipeline.index.count_papers() == 2
        (stored,) = pipeline.index.stored([paper_id_for("Paper about curricula")]).values()
        assert stored.sources == ("small.jsonl", "again.jsonl")
    finally:
        pipeline.close()


class InterruptingEmbedder(Embedder):
    """Wraps the real embedder and dies on its second batch, like a killed ingest."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim, self.calls = inner, inner.name, inner.dim, 0

    def embed_batch(self, texts):
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        return self.inner.embed_batch(texts)


def test_interrupted_ingest_resumes_without_duplicates(tmp_path: Path) -> None:
    corpus = SHIPPED_CORPUS / "listing-4-mar-13.txt"
    pipeline = Pipeline(Settings(data_dir=tmp_path / "d"))
    try:
        real = make_embedder("all-MiniLM-L6-v2", batch_size=64)
        interrupting = InterruptingEmbedder(real)
        interrupting.batch_size = 64
        dying = Ingestor(pipeline.index, pipeline.chunker, lambda: interrupting)
        with pytest.raises(KeyboardInterrupt):
            dying.run([corpus])
        assert pipeline.index.count_chunks() == 0  # batches are written whole or not at all
        report = pipeline.ingestor.run([corpus])
        assert report.files[0].new == 60
        total = pipeline.index.count_chunks()
        again = pipeline.ingestor.run([corpus])
        assert again.chunks == 0 and pipeline.index.count_chunks() == total
        expected = sum(len(pipeline.chunker.split(p)) for p in _papers(corpus))
        assert total == expected
    finally:
        pipeline.close()


def _papers(path: Path) -> list:
    from paperchat.corpus import parse_file

    return list(parse_file(path, []))


def test_partially_stored_paper_is_repaired(tmp_path: Path) -> None:
    pipeline = Pipeline(Settings(data_dir=tmp_path / "d"))
    try:
        long_abstract = " ".join(ABSTRACT.format(topic=f"topic {i}") for i in range(4))
        source = write_jsonl(tmp_path / "long.jsonl", {"A long paper": long_abstract})
        pipeline.ingestor.run([source])
        pid = paper_id_for("A long paper")
        chunks = pipeline.chunker.split(_papers(source)[0])
        assert len(chunks) > 1
        full = pipeline.index.count_chunks()
        # Simulate a crash that stored only the first chunk of this paper.
        pipeline.index.shard.update(
            qe.UpdateOperation.delete_points([c.chunk_id for c in chunks[1:]])
        )
        assert not pipeline.index.stored([pid])[pid].complete
        report = pipeline.ingestor.run([source])
        assert report.files[0].updated == 1
        assert pipeline.index.count_chunks() == full == len(chunks)
    finally:
        pipeline.close()


def test_cli_bad_inputs_report_and_exit_codes(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\xff" * 64)
    missing_abstract = write_jsonl(tmp_path / "bad.jsonl", {"x": ""})
    assert main(["ingest", "-q", str(empty), str(binary), str(missing_abstract)]) == 1
    err = capsys.readouterr().err
    assert "empty.txt: no papers found" in err
    assert "blob.txt: binary file" in err
    assert 'bad.jsonl:1: skipped record: missing or empty "abstract"' in err

    good = small_corpus(tmp_path)
    assert main(["ingest", "-q", str(empty), str(good)]) == 0
    out = capsys.readouterr().out
    assert "small.jsonl: 2 papers (2 new" in out
    assert main(["ingest", "-q", str(tmp_path / "nope.txt")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_second_process_on_the_embedded_index_gets_a_clear_message(tmp_path: Path, capsys) -> None:
    holder = Pipeline(Settings())  # the same data dir the CLI will use
    try:
        holder.ingestor.run([small_corpus(tmp_path)])
        # The CLI opens its own client on the same folder, as a second process would.
        code = main(["search", "tokenizers"])
        assert code == 2
        assert "in use by another paperchat process" in capsys.readouterr().err
    finally:
        holder.close()


def test_dimension_mismatch_is_explained(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    pipeline = Pipeline(settings)
    try:
        pipeline.ingestor.run([small_corpus(tmp_path)])
        from paperchat.errors import IndexUnavailableError

        with pytest.raises(IndexUnavailableError, match="another embedder"):
            pipeline.index.ensure(np.zeros(7).size)
    finally:
        pipeline.close()


# -- untrusted corpus files: nothing lost silently ---------------------------------------------

COMPLETE = " ".join(ABSTRACT.format(topic=f"stage {i}") for i in range(3))


def write_listing(path: Path, papers: list[tuple[str, str]]) -> Path:
    path.write_text("Daily Papers\n\n" + "".join(f"{t}\n\n{a}\n\n" for t, a in papers))
    return path


def stored_text(pipeline: Pipeline, title: str) -> str:
    from paperchat.chunking import join_windows

    pid = paper_id_for(title)
    return join_windows(pipeline.index.chunk_texts(pipeline.index.stored([pid]))[pid])


def test_cut_off_listing_never_replaces_a_complete_abstract(tmp_path: Path) -> None:
    pipeline = Pipeline(Settings(data_dir=tmp_path / "d"))
    try:
        pipeline.ingestor.run([write_jsonl(tmp_path / "full.jsonl", {"Kept paper": COMPLETE})])
        cut = COMPLETE[: len(COMPLETE) // 2 + 3]  # mid-word, no final punctuation
        listing = write_listing(
            tmp_path / "cut.txt", [("Other paper", COMPLETE), ("Kept paper", cut)]
        )
        report = pipeline.ingestor.run([listing]).files[0]
        assert (report.new, report.updated, report.unchanged) == (1, 0, 1)
        assert stored_text(pipeline, "Kept paper") == COMPLETE
        assert pipeline.index.stored([paper_id_for("Kept paper")])  # sources still tracked
        (problem,) = report.problems
        assert problem.startswith(f"{listing}:7: ")
        assert "looks cut off" in problem
        # A complete edit still replaces the text, as before.
        edited = COMPLETE.replace("twelve", "thirteen")
        pipeline.ingestor.run([write_jsonl(tmp_path / "full.jsonl", {"Kept paper": edited})])
        assert stored_text(pipeline, "Kept paper") == edited
    finally:
        pipeline.close()


@pytest.mark.parametrize("gap", [0, 5])  # copies in one batch, or several batches apart
def test_duplicates_in_one_file_last_wins_wherever_they_fall(tmp_path: Path, gap: int) -> None:
    first, last = COMPLETE, COMPLETE.replace("twelve", "fifty")
    others = [json.dumps({"title": f"Filler {i}", "abstract": ABSTRACT}) for i in range(gap)]
    lines = [json.dumps({"title": "Twice", "abstract": first}), *others]
    lines.append(json.dumps({"title": "Twice", "abstract": last}))
    path = tmp_path / "dups.jsonl"
    path.write_text("\n".join(lines) + "\n")
    # Batches of two in flight together: the later copy waits for the earlier one to land.
    pipeline = Pipeline(Settings(data_dir=tmp_path / "d", ingest={"batch_papers": 2}))
    try:
        run = pipeline.ingestor.run([path])
        report = run.files[0]
        assert stored_text(pipeline, "Twice") == last
        assert (report.papers, report.duplicates) == (1 + gap, 1)
        # Batches landed early for the later copy still count in the run's total.
        assert run.chunks >= pipeline.index.count_chunks()
        assert report.problems == [
            f"{path}:{gap + 2}: 'Twice' is also listed at line 1; this later record is kept"
        ]
        assert pipeline.index.count_papers() == 1 + gap
    finally:
        pipeline.close()


def test_a_cut_off_copy_later_in_the_same_file_keeps_the_complete_one(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", {})
    path.write_text(
        json.dumps({"title": "Twice", "abstract": COMPLETE})
        + "\n"
        + json.dumps({"title": "Twice", "abstract": COMPLETE[:200]})
        + "\n"
    )
    pipeline = Pipeline(Settings(data_dir=tmp_path / "d"))
    try:
        report = pipeline.ingestor.run([path]).files[0]
        assert stored_text(pipeline, "Twice") == COMPLETE
        assert report.problems[0].startswith(f"{path}:2: ")
        assert "looks cut off" in report.problems[0]
    finally:
        pipeline.close()


def test_runaway_abstract_is_capped_and_reported(tmp_path: Path) -> None:
    from paperchat.settings import CorpusSettings

    huge = "word " * 200_000  # 1 MB: thousands of chunks if taken whole
    path = write_jsonl(tmp_path / "huge.jsonl", {"Runaway": huge, "Normal": COMPLETE})
    settings = Settings(data_dir=tmp_path / "d", corpus=CorpusSettings(max_abstract_chars=2000))
    pipeline = Pipeline(settings)
    try:
        report = pipeline.ingestor.run([path]).files[0]
        assert report.papers == 2
        assert len(stored_text(pipeline, "Runaway")) <= 2000
        assert pipeline.index.count_chunks() < 20
        (problem,) = report.problems
        assert problem.startswith(f"{path}:1: ") and "999999 characters" in problem
        assert "PAPERCHAT_CORPUS_MAX_ABSTRACT_CHARS" in problem
    finally:
        pipeline.close()
