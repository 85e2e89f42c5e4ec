"""Chunker: windows fit the embedder, overlap, title on every chunk, nothing lost."""

from __future__ import annotations

import itertools
import re

import pytest

from paperchat.chunking import Chunker, count_tokens
from paperchat.corpus import load_papers
from paperchat.embedding import make_embedder
from paperchat.settings import SHIPPED_CORPUS, Settings
from paperchat.synthetic import synthetic_paper


@pytest.fixture(scope="module")
def corpus_chunks():
    settings = Settings()
    papers, _ = load_papers([SHIPPED_CORPUS])
    chunker = Chunker(settings.chunking.size, settings.chunking.overlap)
    return papers, {p.paper_id: chunker.split(p) for p in papers}


def test_no_chunk_over_the_embedder_limit(corpus_chunks) -> None:
    _, chunks = corpus_chunks
    embedder = make_embedder("all-MiniLM-L6-v2")
    limit = embedder.max_tokens  # 256 word pieces: more is silently truncated
    longest = max(embedder.count_tokens(c.embed_text) for cs in chunks.values() for c in cs)
    assert longest <= limit


def test_title_carried_and_text_covered(corpus_chunks) -> None:
    papers, chunks = corpus_chunks
    for paper in papers:
        parts = chunks[paper.paper_id]
        assert all(c.title == paper.title and c.embed_text.startswith(paper.title) for c in parts)
        joined = " ".join(c.text for c in parts)
        # Every word of the abstract appears in some chunk, in order of first appearance.
        assert set(re.findall(r"\w+", paper.abstract)) <= set(re.findall(r"\w+", joined))
        assert parts[0].text.split()[:5] == paper.abstract.split()[:5]
        assert parts[-1].text.split()[-5:] == paper.abstract.split()[-5:]


def test_consecutive_windows_overlap(corpus_chunks) -> None:
    _, chunks = corpus_chunks
    multi = [cs for cs in chunks.values() if len(cs) > 1]
    assert multi
    for parts in multi:
        for a, b in itertools.pairwise(parts):
            tail = a.text.split()[-3:]
            assert " ".join(tail) in b.text  # the next window repeats the end of this one


def test_windows_respect_size_and_ids_are_stable(corpus_chunks) -> None:
    papers, chunks = corpus_chunks
    chunker = Chunker(128, 32)
    for paper in papers[:20]:
        again = chunker.split(paper)
        assert [c.chunk_id for c in again] == [c.chunk_id for c in chunks[paper.paper_id]]
        assert all(count_tokens(c.embed_text) <= 128 + 8 for c in again)


def test_overlap_must_be_smaller_than_size() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Chunker(64, 64)


# Texts that take the splitter's rarer paths: no spaces (cut on newlines, then characters), runs
# of spaces, a word longer than a window, scripts of several bytes a character, text that
# names a special token, and an abstract at the length ingest caps abstracts to.
ODD_TEXTS = [
    "",
    "one",
    " leading and trailing spaces ",
    "x" * 900,
    "a\nb " * 90,
    "line\n" * 400,
    "word " * 300,
    "spaced   out  text " * 60,
    "Ünïcödé naïve café — “quoted” 模型 数据集 Ωμέγα 🤖 " * 40,
    "模型数据集" * 200,
    "an <|endoftext|> marker and <|fim_prefix|> inside " * 30,
    " ".join(synthetic_paper(i)["abstract"] for i in range(120))[:20_000],
]


@pytest.mark.parametrize(("size", "overlap"), [(128, 32), (64, 16), (40, 20)])
def test_windows_are_those_of_llama_index_token_text_splitter(size: int, overlap: int) -> None:
    from llama_index.core.node_parser import TokenTextSplitter

    from paperchat.chunking import token_windows, tokenizer

    papers, _ = load_papers([SHIPPED_CORPUS])
    texts = [p.abstract for p in papers] + ODD_TEXTS
    splitter = TokenTextSplitter(
        chunk_size=size, chunk_overlap=overlap, separator=" ", tokenizer=tokenizer()
    )
    for text in texts:
        assert token_windows(text, size, overlap) == splitter.split_text(text)
