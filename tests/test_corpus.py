"""Parser on the shipped corpus and on malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperchat.chunking import Chunker, join_windows
from paperchat.corpus import (
    CHROME_LINES,
    cap_abstract,
    find_urls,
    is_cut_off_copy,
    load_papers,
    looks_cut_off,
    make_paper,
    normalize_title,
    paper_id_for,
    parse_file,
    supersede,
)
from paperchat.errors import CorpusError
from paperchat.settings import SHIPPED_CORPUS

# Counted independently: every abstract is one line of 300+ characters and titles are
# shorter (`awk 'length($0) >= 300' FILE | wc -l`); 378 distinct abstracts across all files.
EXPECTED = {
    "listing-1-mar-17.txt": 140,
    "listing-2-mar-11.txt": 120,
    "listing-3-mar-11.txt": 73,
    "listing-4-mar-13.txt": 60,
    "listing-5-jan-8.txt": 51,
}
ELECTRA = "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators"


def parse(path: Path) -> tuple[list, list]:
    problems: list = []
    return list(parse_file(path, problems)), problems


@pytest.mark.parametrize(("name", "count"), EXPECTED.items())
def test_paper_count_per_file(name: str, count: int) -> None:
    papers, problems = parse(SHIPPED_CORPUS / name)
    assert len(papers) == count
    assert problems == []


def test_whole_corpus_deduplicates_across_files() -> None:
    papers, problems = load_papers([SHIPPED_CORPUS])
    assert len(papers) == 378
    assert problems == []
    assert len({p.paper_id for p in papers}) == 378
    plip = next(p for p in papers if p.title.startswith("PLIP: Language-Image Pre-training"))
    assert len(plip.sources) == 4


def test_titles_and_abstracts_exact() -> None:
    papers, _ = parse(SHIPPED_CORPUS / "listing-1-mar-17.txt")
    first = papers[0]
    assert first.title == "Scaling Speech-Text Pre-training with Synthetic Interleaved Data"
    assert first.abstract.startswith("Speech language models (SpeechLMs) accept speech input")
    assert first.abstract.endswith("even operating exclusively in the speech domain.")
    last = papers[-1]
    assert last.title == "Policy-Gradient Training of Language Models for Ranking"


def test_no_chrome_or_metadata_line_is_a_paper() -> None:
    papers, _ = load_papers([SHIPPED_CORPUS])
    for p in papers:
        assert p.title.casefold() not in CHROME_LINES
        assert "authors" not in p.title
        assert len(p.abstract) > 300 and len(p.title) < 300


def test_author_counts_and_dates_attach_to_their_paper() -> None:
    papers, _ = parse(SHIPPED_CORPUS / "listing-5-jan-8.txt")
    by_title = {p.title: p for p in papers}
    assert by_title[ELECTRA].authors == 4
    assert by_title[ELECTRA].date == "2020-03-23"
    clip = by_title["Contrastive Localized Language-Image Pre-Training"]
    assert (clip.authors, clip.date) == (10, "2024-10-03")  # "Oct 3, 2024 3": upvotes dropped
    assert all(p.authors and p.date for p in papers)


def test_urls_kept_and_repaired() -> None:
    papers, _ = load_papers([SHIPPED_CORPUS])
    unipt = next(p for p in papers if p.title.startswith("Unified Pre-training with Pseudo Texts"))
    assert unipt.urls == ("https://github.com/ZhiyinShao-H/UniPT",)  # was "https;//"
    assert find_urls("code at https://github.com/a/b.") == ("https://github.com/a/b",)


def test_stable_ids_from_normalised_title() -> None:
    assert paper_id_for(ELECTRA) == paper_id_for(
        "  electra:  PRE-TRAINING text encoders as discriminators rather than generators "
    )
    assert normalize_title("Pre-Training, Done!") == "pre training done"
    assert paper_id_for(ELECTRA) != paper_id_for("Another title")
    # Accents and compatibility forms fold away, whether the title is ASCII or not.
    assert normalize_title("Caf\u00e9 na\u00efve \ufb01ne-tuning") == "cafe naive fine tuning"
    assert normalize_title("Cafe\u0301 \u00c5ngstr\u00f6m") == normalize_title("Cafe Angstrom")


def test_jsonl_with_bad_records_keeps_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "papers.jsonl"
    lines = [
        json.dumps(
            {
                "title": "Good paper",
                "abstract": "A" * 200,
                "authors": ["a", "b"],
                "date": "2024-01-05",
                "url": "https://x.org/p",
            }
        ),
        json.dumps({"title": "No abstract"}),
        "{not json",
        json.dumps({"title": "Second good", "abstract": "Some abstract text."}),
    ]
    path.write_text("\n".join(lines) + "\n")
    papers, problems = parse(path)
    assert [p.title for p in papers] == ["Good paper", "Second good"]
    assert papers[0].authors == 2 and papers[0].date == "2024-01-05"
    assert papers[0].urls == ("https://x.org/p",)
    assert [p.line for p in problems] == [2, 3]
    assert 'missing or empty "abstract"' in problems[0].message


def test_binary_and_unreadable_files_raise_clear_errors(tmp_path: Path) -> None:
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(CorpusError, match="binary"):
        parse(binary)
    with pytest.raises(CorpusError, match="no such file"):
        load_papers([tmp_path / "missing.txt"])
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Title\n\nCaf\xe9".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin.txt:3: not UTF-8"):
        parse(latin)


def test_listing_title_without_abstract_is_reported_with_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    abstract = "This abstract is long enough to be an abstract. " * 5
    path.write_text(f"new\n\nLonely title\n\nReal title\n\n{abstract}\n\nDangling title\n")
    papers, problems = parse(path)
    assert [p.title for p in papers] == ["Real title"]
    assert problems[0].line == 3 and "Lonely title" in problems[0].message
    assert problems[1].line == 9 and "Dangling title" in problems[1].message


# -- which record wins --------------------------------------------------------------------------

COMPLETE = "We train a small model on many tokens. It beats larger models on every benchmark."


def test_records_remember_their_line(tmp_path: Path) -> None:
    path = tmp_path / "two.txt"
    abstract = f"{COMPLETE} {COMPLETE}"  # listings need 100 characters for an abstract
    path.write_text(f"First title\n\n{abstract}\n\nSecond title\n\n{abstract}\n")
    assert [p.line for p in parse(path)[0]] == [1, 5]


def test_cut_off_text_is_told_apart_from_a_complete_one() -> None:
    assert not looks_cut_off(COMPLETE)
    assert not looks_cut_off("Code is available at https://github.com/x/y")  # a final link
    assert not looks_cut_off('He said "stop."')
    assert looks_cut_off(COMPLETE[:50])  # mid-word
    assert looks_cut_off("We train a small model on many tokens and")
    assert is_cut_off_copy(COMPLETE[:60], COMPLETE)
    assert not is_cut_off_copy(COMPLETE[:60], COMPLETE[:70])  # both cut off: newer wins
    assert not is_cut_off_copy(COMPLETE + " More", COMPLETE)  # longer is no cut-off copy


def test_later_record_supersedes_unless_it_is_a_cut_off_copy() -> None:
    old = make_paper("Title", COMPLETE, "a.txt", day="2024-01-01", line=3)
    edited = make_paper("Title", "A rewritten abstract that ends well.", "b.txt", line=9)
    newer = supersede(old, edited)
    assert newer.abstract == edited.abstract and newer.line == 9
    assert newer.sources == ("a.txt", "b.txt") and newer.date == "2024-01-01"
    cut = make_paper("Title", COMPLETE[:60], "c.txt", line=12)
    kept = supersede(old, cut)
    assert kept.abstract == COMPLETE and kept.line == 3
    assert kept.sources == ("a.txt", "c.txt")


def test_long_abstract_is_capped_at_a_word_boundary() -> None:
    paper = make_paper("Title", "word " * 10_000 + "https://x.org/tail", "a.jsonl")
    capped = cap_abstract(paper, 1000)
    assert len(capped.abstract) <= 1000 and capped.abstract.endswith("word")
    assert capped.urls == ()  # links of the dropped part go with it
    assert cap_abstract(capped, 1000) is capped


def test_stored_windows_join_back_into_the_abstract() -> None:
    papers, _ = load_papers([SHIPPED_CORPUS])
    chunker = Chunker(128, 32)
    for paper in papers:
        assert join_windows([c.text for c in chunker.split(paper)]) == paper.abstract
