"""BibTeX and arXiv-snapshot parsing, format detection, identity across formats, links."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperchat.corpus import detect_format, load_papers, paper_id_for, parse_file
from paperchat.errors import CorpusError
from paperchat.formats import bibtex
from paperchat.formats.arxiv import clean_arxiv_id, clean_doi
from paperchat.records import Citation, Hit, PaperMeta

FIXTURES = Path(__file__).parent / "data" / "formats"
BIB = FIXTURES / "library.bib"
ARXIV = FIXTURES / "arxiv.jsonl"
LISTING = FIXTURES / "listing.txt"
ELECTRA = "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators"
ATTENTION = "Attention Is All You Need"
QA = "Question Answering for Français and Español with Naïve Cross-lingual Transfer"


def parse(path: Path) -> tuple[dict, list]:
    problems: list = []
    return {p.title: p for p in parse_file(path, problems)}, problems


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_bibtex_accents_and_braces_become_plain_text() -> None:
    papers, _ = parse(BIB)
    qa = papers[QA]  # {Fran\c{c}ais}, {Espa\~{n}ol}, Na{\"\i}ve
    assert qa.meta.authors == ("Gérard Dupont", "Jürgen Müller", "María Peña")
    assert "with no target-language labels" in qa.abstract  # {\em no}
    assert "SQuAD-style" in qa.abstract and "{" not in qa.abstract
    assert qa.meta.venue.startswith("Proceedings of the 2019 Conference of the North American")
    assert (qa.meta.year, qa.meta.doi) == (2019, "10.18653/v1/n19-9999")
    assert ELECTRA in papers  # {ELECTRA}: {Pre}-training {Text} ...
    assert papers[ELECTRA].paper_id == paper_id_for(ELECTRA)  # same id as the listing's


def test_bibtex_identifiers_and_links() -> None:
    papers, _ = parse(BIB)
    attention = papers[ATTENTION]
    assert attention.meta.arxiv_id == "1706.03762"  # eprint + archivePrefix
    assert attention.meta.categories == ("cs.CL",)  # primaryClass
    assert attention.url == "https://arxiv.org/abs/1706.03762"
    assert attention.authors == 8 and attention.meta.authors[6] == "Łukasz Kaiser"
    assert papers[QA].url == "https://doi.org/10.18653/v1/n19-9999"  # no URL, no arXiv id
    assert papers[ELECTRA].url == "https://openreview.net/forum?id=r1xMH1BtvB"  # record URL
    adam = papers["Adam: A Method for Stochastic Optimization"]
    assert adam.meta.arxiv_id == "1412.6980"  # from its arxiv.org URL


def test_bibtex_missing_abstract_and_malformed_entry_reported_rest_ingests() -> None:
    papers, problems = parse(BIB)
    assert len(papers) == 4
    by_line = {p.line: p.message for p in problems}
    assert set(by_line) == {line_of(BIB, "he_resnet_2016"), line_of(BIB, "broken_entry")}
    assert "no abstract" in by_line[line_of(BIB, "he_resnet_2016")]
    assert "malformed" in by_line[line_of(BIB, "broken_entry")]
    assert all(str(p).startswith(f"{BIB}:") for p in problems)


def test_bibtex_streams_in_batches_keeping_string_macros(monkeypatch) -> None:
    monkeypatch.setattr(bibtex, "ENTRIES_PER_BATCH", 1)
    papers, problems = parse(BIB)
    assert len(papers) == 4 and len(problems) == 2
    assert papers[QA].meta.venue.startswith("Proceedings of the 2019")  # @string of batch 1
    assert {p.line for p in problems} == {line_of(BIB, "he_resnet_2016"), line_of(BIB, "broken")}


def test_arxiv_snapshot_records() -> None:
    papers, problems = parse(ARXIV)
    electra = papers[ELECTRA]  # title broken over two lines in the snapshot
    assert electra.date == "2020-03-23"  # first version, not update_date
    assert electra.meta.arxiv_id == "2003.10555" and electra.meta.categories == ("cs.CL",)
    assert electra.meta.authors[0] == "Kevin Clark" and electra.authors == 4
    assert electra.url == "https://arxiv.org/abs/2003.10555"
    note = papers["A Note on Strings in Two Dimensions"]
    assert note.meta.arxiv_id == "hep-th/9901001"  # old-style id, version dropped
    assert note.meta.categories == ("hep-th", "math-ph", "math.MP")
    assert note.meta.venue == "Phys. Lett. B 450 (1999) 1-7"
    assert note.meta.doi == "10.1016/s0370-2693(99)00001-1"
    assert (note.date, note.meta.year) == ("1999-01-01", 1999)
    assert [(p.line, "abstract" in p.message) for p in problems] == [(4, True)]


def test_formats_detected_by_suffix_and_content(tmp_path: Path) -> None:
    assert [detect_format(p) for p in (BIB, ARXIV, LISTING)] == ["bibtex", "arxiv", "listing"]
    snapshot = tmp_path / "arxiv-metadata-oai-snapshot.json"  # JSONL despite the suffix
    snapshot.write_bytes(ARXIV.read_bytes())
    assert detect_format(snapshot) == "arxiv"
    assert len(parse(snapshot)[0]) == 3
    exported = tmp_path / "refs.txt"  # a BibTeX export saved as .txt
    exported.write_text(BIB.read_text())
    assert detect_format(exported) == "bibtex"
    array = tmp_path / "papers.json"
    array.write_text(json.dumps([{"title": "T", "abstract": "A" * 120}, {"title": "No"}]))
    papers, problems = parse(array)
    assert list(papers) == ["T"] and problems[0].line == 2
    with pytest.raises(CorpusError, match=r"allowed: \.txt, \.jsonl, \.json, \.bib"):
        detect_format(tmp_path / "paper.pdf")


def test_one_paper_across_listing_bibtex_and_arxiv() -> None:
    papers, _ = load_papers([LISTING, BIB, ARXIV])
    electra = [p for p in papers if p.title == ELECTRA]
    assert len(electra) == 1
    (paper,) = electra
    assert paper.paper_id == paper_id_for(ELECTRA)  # listing ids do not change
    assert paper.sources == ("listing.txt", "library.bib", "arxiv.jsonl")
    assert paper.date == "2020-03-23"
    assert paper.meta.arxiv_id == "2003.10555"  # from the snapshot
    assert paper.meta.url == "https://openreview.net/forum?id=r1xMH1BtvB"  # from the .bib
    assert set(paper.meta.categories) == {"Computer Science - Computation and Language", "cs.CL"}
    assert len(papers) == 5


def test_identifier_joins_records_whose_titles_differ(tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.jsonl"
    record = json.loads(ARXIV.read_text().splitlines()[1])
    record["title"] = "Attention is all you need (v7, revised)"
    renamed.write_text(json.dumps(record) + "\n")
    papers, _ = load_papers([BIB, renamed])
    attention = [p for p in papers if p.meta.arxiv_id == "1706.03762"]
    assert len(attention) == 1
    assert attention[0].paper_id == paper_id_for(ATTENTION)
    assert attention[0].sources == ("library.bib", "renamed.jsonl")


def test_identifier_cleaning_and_link_order() -> None:
    assert clean_arxiv_id("arXiv:2003.10555v3") == "2003.10555"
    assert clean_arxiv_id("https://arxiv.org/pdf/2003.10555v1.pdf") == "2003.10555"
    assert clean_doi("https://doi.org/10.1000/ABC") == "10.1000/abc"
    assert clean_doi("not a doi") is None
    assert PaperMeta(doi="10.1/x", arxiv_id="1").link() == "https://arxiv.org/abs/1"
    assert PaperMeta(doi="10.1/x").link() == "https://doi.org/10.1/x"
    assert PaperMeta(url="https://a.org", doi="10.1/x").link() == "https://a.org"
    assert PaperMeta().link(("https://github.com/x/y",)) == "https://github.com/x/y"
    assert PaperMeta().link() is None


def test_citation_link_prefers_the_papers_own_page_then_a_title_search() -> None:
    code = ("https://github.com/x/y",)
    hit = Hit("p", "Some Title", 1.0, "text", urls=code, meta=PaperMeta(arxiv_id="2003.10555"))
    assert hit.page == "https://arxiv.org/abs/2003.10555"
    cited = Citation(1, "p", hit.title, hit.url, urls=hit.urls, page=hit.page)
    assert cited.link == "https://arxiv.org/abs/2003.10555"
    unknown = Hit("p", "Some Title", 1.0, "text", urls=code)
    assert unknown.page is None
    fallback = Citation(1, "p", unknown.title, unknown.url, urls=code, page=unknown.page)
    assert fallback.link.startswith("https://arxiv.org/search/?query=Some+Title")
    hostile = Citation(1, "p", "T", page="javascript:alert(1)")
    assert hostile.link.startswith("https://arxiv.org/search/")
