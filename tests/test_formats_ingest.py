"""Ingesting a listing, a .bib and an arXiv snapshot into a real embedded Qdrant: one paper
per work with every source and its metadata, links on citations, filters, stats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperchat.cli import main
from paperchat.collection import browse, collection_stats
from paperchat.corpus import paper_id_for
from paperchat.index import Filters
from paperchat.pipeline import Pipeline
from paperchat.settings import Settings

FIXTURES = Path(__file__).parent / "data" / "formats"
FILES = [FIXTURES / "listing.txt", FIXTURES / "library.bib", FIXTURES / "arxiv.jsonl"]
ELECTRA = "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators"
ATTENTION = "Attention Is All You Need"
QA = "Question Answering for Français and Español with Naïve Cross-lingual Transfer"
NOTE = "A Note on Strings in Two Dimensions"
ADAM = "Adam: A Method for Stochastic Optimization"


@pytest.fixture(scope="module")
def formats_pipeline(tmp_path_factory) -> Iterator[Pipeline]:
    pipeline = Pipeline(Settings(data_dir=tmp_path_factory.mktemp("formats")))
    report = pipeline.ingestor.run(FILES)
    assert report.per_format() == {"listing": 1, "bibtex": 4, "arxiv": 3}
    yield pipeline
    pipeline.close()


def titles(pipeline: Pipeline, query: str, **filters) -> set[str]:
    hits = pipeline.retriever.search(query, k=10, filters=Filters.of(**filters))
    return {h.title for h in hits}


def test_one_paper_per_work_with_every_source_and_its_metadata(formats_pipeline) -> None:
    index = formats_pipeline.index
    assert index.count_papers() == 5
    (hit,) = formats_pipeline.retriever.search(
        "replaced token detection", k=1, filters=Filters(paper_ids=(paper_id_for(ELECTRA),))
    )
    assert hit.sources == ("listing.txt", "library.bib", "arxiv.jsonl")
    assert hit.meta.arxiv_id == "2003.10555" and hit.meta.categories[-1] == "cs.CL"
    assert hit.meta.authors[0] == "Kevin Clark" and hit.date == "2020-03-23"
    assert hit.url == "https://openreview.net/forum?id=r1xMH1BtvB"  # the .bib's record URL
    links = {p.title: p.url for p in browse(index, limit=10)}
    assert links[ATTENTION] == "https://arxiv.org/abs/1706.03762"
    assert links[QA] == "https://doi.org/10.18653/v1/n19-9999"


def test_who_wrote_it_and_where_it_appeared_come_from_the_record(formats_pipeline) -> None:
    answerer = formats_pipeline.answerer("extractive")
    answer = answerer.answer("Who wrote ELECTRA and where was it published?")
    first = answer.text.split("\n")[0]
    assert first.startswith(f'"{ELECTRA}" [1] is by Kevin Clark, ')
    assert "Christopher D. Manning" in first and "International Conference on Learning" in first
    assert answer.citations[0].title == ELECTRA
    # The quoted abstract follows: the record answers who, the abstract what.
    assert f'According to "{ELECTRA}" [1], ' in answer.text


def test_papers_by_an_author_are_listed_from_the_records(formats_pipeline) -> None:
    answerer = formats_pipeline.answerer("extractive")
    answer = answerer.answer("Which papers did Clark write?")
    assert answer.text == f'The collection lists 1 paper by Clark: "{ELECTRA}" [1].'
    assert [c.title for c in answer.citations] == [ELECTRA] and not answer.abstained
    nobody = answerer.answer("Papers by Nobody Here")
    assert nobody.text == "No paper in the collection lists Nobody Here among its authors."
    assert nobody.citations == [] and nobody.hits == []


def test_filters_by_category_author_date_and_source(formats_pipeline) -> None:
    p = formats_pipeline
    query = "pre-training models"
    assert titles(p, query, categories=["cs.LG"]) == {ATTENTION}
    assert titles(p, query, categories=["hep-th", "cs.LG"]) == {ATTENTION, NOTE}
    assert titles(p, query, authors=["müller"]) == {QA}  # last name, any case
    assert titles(p, query, authors=["Kevin Clark"]) == {ELECTRA}
    # QA is known by its year only (2019); ELECTRA by its date.
    assert titles(p, query, since="2019") == {ELECTRA, QA}
    assert titles(p, query, since="2019-06", until="2020-03-31") == {ELECTRA, QA}
    assert titles(p, query, until="2000") == {NOTE}
    assert titles(p, query, sources=["library.bib"]) == {ELECTRA, ATTENTION, QA, ADAM}


def test_stats_count_papers_per_source_and_year(formats_pipeline) -> None:
    stats = collection_stats(formats_pipeline.index).to_dict()
    assert stats["papers"] == 5
    assert stats["per_source"] == {"arxiv.jsonl": 3, "library.bib": 4, "listing.txt": 1}
    assert stats["per_year"] == {"1999": 1, "2014": 1, "2017": 1, "2019": 1, "2020": 1}


def test_reingest_adds_nothing_and_a_new_source_adds_metadata(tmp_path: Path) -> None:
    pipeline = Pipeline(Settings(data_dir=tmp_path / "d"))
    try:
        pipeline.ingestor.run([FIXTURES / "listing.txt"])
        # The snapshot's ELECTRA abstract is the listing's: unchanged text, new metadata.
        report = pipeline.ingestor.run([FIXTURES / "arxiv.jsonl"])
        assert report.files[0].unchanged == 1 and report.files[0].new == 2
        (electra,) = pipeline.index.stored([paper_id_for(ELECTRA)]).values()
        assert electra.meta.arxiv_id == "2003.10555"
        assert electra.sources == ("listing.txt", "arxiv.jsonl")
        again = pipeline.ingestor.run([FIXTURES / "listing.txt", FIXTURES / "arxiv.jsonl"])
        assert again.chunks == 0 and sum(f.unchanged for f in again.files) == 4
    finally:
        pipeline.close()


def test_cli_ingest_counts_formats_and_stats_and_filters(tmp_path: Path, capsys) -> None:
    assert main(["ingest", "-q", *map(str, FILES)]) == 0
    out = capsys.readouterr().out
    assert "formats: 3 arxiv, 4 bibtex, 1 listing" in out
    assert "library.bib: 4 papers (" in out and "unchanged) [bibtex]" in out
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "papers per source:" in out and "papers per year:" in out
    assert "      4  library.bib" in out
    assert main(["search", "attention", "--category", "cs.LG", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["title"] for r in records] == [ATTENTION]
    assert main(["search", "attention", "--since", "last week"]) == 2
    assert "YYYY, YYYY-MM or YYYY-MM-DD" in capsys.readouterr().err
