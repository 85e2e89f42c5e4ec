"""Papers -> Chunks: token windows (tiktoken cl100k, via llama-index) with overlap.

Windows are sized so that title + window stays under the embedder's input limit
(all-MiniLM-L6-v2 silently truncates past 256 word pieces). They are cut exactly as
llama-index's `TokenTextSplitter` cuts them (words split on spaces, then newlines, then
characters; windows merged greedily with the overlap popped from the front), by the same
steps without its per-call pydantic and callback machinery, which cost most of the ingest's
time: each word is counted once (cached), and the counts are reused while merging.
A test checks the windows against `TokenTextSplitter` on the shipped corpus.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache

from paperchat.corpus import content_hash
from paperchat.memo import Memo
from paperchat.names import indexed_names
from paperchat.records import Chunk, Paper

_NAMESPACE = uuid.UUID("5b1f1c3e-8f55-4a55-9a43-2f1c2a7d9e10")
MIN_WINDOW = 32


@lru_cache(maxsize=1)
def tokenizer() -> Callable[[str], list[int]]:
    """cl100k_base from the copy llama-index-core ships, so it works offline."""
    from llama_index.core.utils import get_tokenizer  # heavy import: only when chunking

    return get_tokenizer()


def count_tokens(text: str) -> int:
    return len(tokenizer()(text))


@lru_cache(maxsize=1)
def _word_counter() -> Callable[[str], int]:
    # The splitter counts each word of an abstract on its own; words recur within and across
    # abstracts, so each word's count is kept.
    encode = tokenizer()
    return Memo(lambda word: len(encode(word)), limit=1 << 17).__getitem__


def chunk_id(paper_id: str, position: int, digest: str) -> str:
    """Stable per (paper, position, content): an edited abstract gets new ids.

    Except the first chunk's: it depends on the paper only, so that chunk is the paper's
    handle in the index, and one lookup by id tells whether and which version is stored.
    """
    key = paper_id if position == 0 else f"{paper_id}:{position}:{digest}"
    return str(uuid.uuid5(_NAMESPACE, key))


def head_id(paper_id: str) -> str:
    """Id of a paper's first chunk, whatever its text."""
    return chunk_id(paper_id, 0, "")


class Chunker:
    """Splits abstracts into overlapping token windows on word boundaries."""

    def __init__(self, size: int, overlap: int) -> None:
        if overlap >= size:
            raise ValueError(f"chunk overlap ({overlap}) must be smaller than size ({size})")
        self.size = size
        self.overlap = overlap

    def split(self, paper: Paper) -> list[Chunk]:
        return self.chunks(paper, self.windows(paper.title, paper.abstract))

    def windows(self, title: str, abstract: str) -> list[str]:
        """The abstract's windows (the CPU-heavy part, which ingest's worker processes run)."""
        # The title rides along with every window, so it comes out of the window's budget.
        budget = max(MIN_WINDOW, self.size - count_tokens(title) - 1)
        overlap = min(self.overlap, budget // 2)
        return token_windows(abstract, budget, overlap) or [abstract]

    def chunks(
        self, paper: Paper, texts: Sequence[str], names: Sequence[str] | None = None
    ) -> list[Chunk]:
        """The paper's chunks from its windows (`windows`), with their ids and metadata;
        `names` are its `indexed_names` when already found (by ingest's workers)."""
        digest = content_hash(paper.title, paper.abstract)
        if names is None:
            names = indexed_names(paper.title, paper.abstract)
        names = tuple(names)
        return [
            Chunk(
                chunk_id=chunk_id(paper.paper_id, i, digest),
                paper_id=paper.paper_id,
                title=paper.title,
                text=text,
                position=i,
                content_hash=digest,
                sources=paper.sources,
                date=paper.date,
                urls=paper.urls,
                meta=paper.meta,
                names=names,
            )
            for i, text in enumerate(texts)
        ]

    def split_all(self, papers: Iterable[Paper]) -> Iterator[Chunk]:
        for paper in papers:
            yield from self.split(paper)


def token_windows(text: str, size: int, overlap: int) -> list[str]:
    """`TokenTextSplitter(chunk_size=size, chunk_overlap=overlap, separator=" ").split_text`."""
    if text == "":
        return [text]
    whole = len(tokenizer()(text))  # abstracts rarely recur: not worth a cache entry
    texts, counts = _pieces(text, whole, size, _word_counter())
    return _merge(texts, counts, size, overlap)


def _keep_separator(text: str, separator: str) -> list[str]:
    """`text` split before each `separator`, empty parts left out (only the first can be)."""
    parts = [separator + p for p in text.split(separator)]
    parts[0] = parts[0][len(separator) :]
    return parts if parts[0] else parts[1:]


def _pieces(
    text: str, tokens: int, size: int, count: Callable[[str], int]
) -> tuple[list[str], list[int]]:
    """Splits of at most `size` tokens each, and their token counts (a split that cannot be
    cut stays whole)."""
    if tokens <= size:
        return [text], [tokens]
    splits = _keep_separator(text, " ")
    if len(splits) <= 1:
        splits = _keep_separator(text, "\n")
    if len(splits) <= 1:
        splits = list(text)
    counts = list(map(count, splits))
    if len(splits) == 1 or max(counts) <= size:  # every word fits: the usual case
        return splits, counts
    texts: list[str] = []
    fitting: list[int] = []
    for split, n in zip(splits, counts, strict=True):
        if n <= size:
            texts.append(split)
            fitting.append(n)
        else:
            more, more_counts = _pieces(split, n, size, count)
            texts += more
            fitting += more_counts
    return texts, fitting


def _merge(texts: list[str], counts: list[int], size: int, overlap: int) -> list[str]:
    """Greedy windows of whole splits, the overlap kept from the end of the one before:
    `texts[start:end]` is the window being filled, `length` its tokens."""
    chunks: list[str] = []
    start = length = 0
    for end, n in enumerate(counts):
        if length + n > size:
            chunk = "".join(texts[start:end]).strip()
            if chunk:
                chunks.append(chunk)
            while start < end and (length > overlap or length + n > size):
                length -= counts[start]
                start += 1
        length += n
    chunk = "".join(texts[start:]).strip()
    if chunk:
        chunks.append(chunk)
    return chunks


def join_windows(windows: Sequence[str]) -> str:
    """The text again from its overlapping windows: each window's words that repeat the end
    of the text so far are dropped (windows overlap on whole words)."""
    text = ""
    for window in windows:
        words = window.split(" ")
        for shared in range(len(words), 0, -1):
            head = " ".join(words[:shared])
            if text == head or text.endswith(" " + head):
                window = " ".join(words[shared:])
                break
        text = f"{text} {window}" if text and window else text or window
    return text
