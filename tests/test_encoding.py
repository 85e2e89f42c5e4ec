"""Sparse and hash vectors, and the names ingest's workers find: exactly what the plain
definitions give (the encoders count each term's id once and cache stems; nothing may change
what is stored)."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
from llama_index.core.utils import globals_helper
from nltk.stem.porter import PorterStemmer

from paperchat.chunking import Chunker
from paperchat.corpus import load_papers
from paperchat.embedding import (
    BM25_AVG_LEN,
    BM25_B,
    BM25_K1,
    HashEmbedder,
    sparse_document,
    term_counts,
    term_id,
    words,
)
from paperchat.encoding import encode
from paperchat.names import indexed_names
from paperchat.settings import SHIPPED_CORPUS
from paperchat.synthetic import synthetic_paper
from test_chunking import ODD_TEXTS


def reference_terms(text: str) -> list[str]:
    stop = frozenset(globals_helper.stopwords)
    stem = PorterStemmer().stem
    return [stem(w) for w in re.findall(r"[^\W_]+", text.lower()) if w not in stop]


def reference_sparse(text: str) -> tuple[list[int], list[float]]:
    """BM25 term weights of the text, summed per term id, term by term."""
    counts = Counter(reference_terms(text))
    norm = BM25_K1 * (1 - BM25_B + BM25_B * sum(counts.values()) / BM25_AVG_LEN)
    merged: dict[int, float] = {}
    for term, c in counts.items():
        merged[term_id(term)] = merged.get(term_id(term), 0.0) + c * (BM25_K1 + 1) / (c + norm)
    return list(merged), list(merged.values())


def reference_hash(text: str, dim: int = 64) -> np.ndarray:
    row = np.zeros(dim)
    for term, c in Counter(reference_terms(text)).items():
        h = term_id(term)
        row[h % dim] += c if h & 1 << 31 else -c
    norm = np.linalg.norm(row)
    return (row / (norm or 1.0)).astype(np.float32)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    papers, _ = load_papers([SHIPPED_CORPUS])
    chunker = Chunker(128, 32)
    chunks = [c.embed_text for p in papers[:150] for c in chunker.split(p)]
    synthetic = [synthetic_paper(i)["abstract"] for i in range(50)]
    return chunks + synthetic + ODD_TEXTS


def test_sparse_vectors_are_the_plain_bm25_weights(texts: list[str]) -> None:
    for text in texts:
        assert words(text) == reference_terms(text)
        assert list(term_counts(text).items()) == list(Counter(reference_terms(text)).items())
        assert sparse_document(text) == reference_sparse(text)  # same floats, same order


def test_hash_vectors_are_the_plain_term_sums(texts: list[str]) -> None:
    got = HashEmbedder().embed(texts)
    want = np.vstack([reference_hash(t) for t in texts])
    assert np.allclose(got, want, atol=1e-6)
    assert not HashEmbedder().embed(["", "the of and"]).any()  # no terms: a zero vector


def test_sparse_vectors_merge_terms_that_share_an_id() -> None:
    # Two different terms with one 31-bit id, found among made-up words (a dozen collide).
    seen: dict[int, str] = {}
    pair = None
    for i in range(200_000):
        term = f"q{i}"
        if (other := seen.setdefault(term_id(term), term)) != term:
            pair = (other, term)
            break
    assert pair is not None
    text = f"{pair[0]} {pair[1]} {pair[1]} plain words"
    indices, values = sparse_document(text)
    assert indices.count(term_id(pair[0])) == 1
    assert (indices, values) == reference_sparse(text)


def test_encode_gives_each_paper_its_windows_names_and_vectors() -> None:
    papers, _ = load_papers([SHIPPED_CORPUS])
    pairs = [(p.title, p.abstract) for p in papers[:80]]
    chunker = Chunker(128, 32)
    encoded = encode(chunker, pairs, HashEmbedder())
    assert encoded.names == [tuple(indexed_names(t, a)) for t, a in pairs]
    assert encoded.windows == [chunker.windows(t, a) for t, a in pairs]
    texts = [f"{t}\n{w}" for (t, _), ws in zip(pairs, encoded.windows, strict=True) for w in ws]
    assert encoded.sparse == [reference_sparse(t) for t in texts]
    assert encoded.dense is not None
    assert np.array_equal(encoded.dense, HashEmbedder().embed(texts))
