"""The model embedder under concurrent requests: one model call serves every caller waiting,
and texts embedded recently are not embedded again."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from paperchat.embedding import Coalescer, make_embedder


def rows_of(texts: list[str]) -> np.ndarray:
    """One row per text that says which text it is: [len, first char]."""
    return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)


def test_waiting_callers_share_one_model_call_and_get_their_own_rows() -> None:
    release = threading.Event()
    batches: list[list[str]] = []

    def model(texts: list[str]) -> np.ndarray:
        batches.append(texts)
        release.wait(10)  # the first call holds the model while the others queue
        return rows_of(texts)

    coalesced = Coalescer(model)
    asks = [[f"{chr(97 + i)}{'x' * i}", f"{chr(65 + i)}"] for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(coalesced, asks[0])
        while not batches:
            time.sleep(0.01)
        rest = [pool.submit(coalesced, a) for a in asks[1:]]
        while coalesced.waiting < 5:
            time.sleep(0.01)
        release.set()
        results = [first.result(), *(f.result() for f in rest)]
    assert len(batches) == 2 and sorted(batches[1]) == sorted(t for a in asks[1:] for t in a)
    for asked, got in zip(asks, results, strict=True):
        assert np.array_equal(got, rows_of(asked))


def test_a_model_error_reaches_every_caller_of_its_call() -> None:
    def broken(texts: list[str]) -> np.ndarray:
        raise RuntimeError("out of memory")

    coalesced = Coalescer(broken)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(coalesced, ["a"]) for _ in range(4)]
        for f in futures:
            with pytest.raises(RuntimeError, match="out of memory"):
                f.result()


def test_cached_texts_are_not_embedded_again_and_keep_their_vectors() -> None:
    cached = make_embedder("all-MiniLM-L6-v2", cache_size=3)
    plain = make_embedder("all-MiniLM-L6-v2")
    texts = ["speech tokens", "vision transformers", "reward models"]
    first = cached.embed(texts)
    calls = cached._coalesced.calls
    again = cached.embed([texts[2], texts[0], texts[2]])
    assert cached._coalesced.calls == calls  # all three from the cache
    assert np.array_equal(again, first[[2, 0, 2]])
    assert np.allclose(cached.embed_query("graph networks"), plain.embed_query("graph networks"))
    cached.embed(["speech tokens"])  # still cached: it was used more recently than "vision"
    assert cached._coalesced.calls == calls + 1
    cached.embed(["vision transformers"])  # made room for "graph networks"
    assert cached._coalesced.calls == calls + 2


def test_concurrent_queries_get_the_vectors_a_lone_query_gets() -> None:
    embedder = make_embedder("all-MiniLM-L6-v2")
    questions = [f"what does paper {i} propose for speech" for i in range(12)]
    alone = [embedder.embed_query(q) for q in questions]
    with ThreadPoolExecutor(12) as pool:
        together = list(pool.map(embedder.embed_query, questions))
    for a, b in zip(alone, together, strict=True):
        assert np.allclose(a, b, atol=1e-5)
