"""Papers -> Chunks: token windows (tiktoken cl100k, via llama-index) with overlap.

Windows are sized so that title + window stays under the embedder's input limit
(all-MiniLM-L6-v2 silently truncates past 256 word pieces).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from paperchat.corpus import content_hash
from paperchat.records import Chunk, Paper

if TYPE_CHECKING:
    from llama_index.core.node_parser import TokenTextSplitter

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
def _word_tokenizer() -> Callable[[str], list[int]]:
    # The splitter tokenizes each word of an abstract on its own, several times over; words
    # recur within and across abstracts, so a bounded cache halves the time to chunk.
    return lru_cache(maxsize=1 << 16)(tokenizer())


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

    def _splitter(self, budget: int) -> TokenTextSplitter:
        from llama_index.core.node_parser import TokenTextSplitter

        overlap = min(self.overlap, budget // 2)
        return TokenTextSplitter(
            chunk_size=budget, chunk_overlap=overlap, separator=" ", tokenizer=_word_tokenizer()
        )

    def split(self, paper: Paper) -> list[Chunk]:
        # The title rides along with every window, so it comes out of the window's budget.
        budget = max(MIN_WINDOW, self.size - count_tokens(paper.title) - 1)
        texts = self._splitter(budget).split_text(paper.abstract) or [paper.abstract]
        digest = content_hash(paper.title, paper.abstract)
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
            )
            for i, text in enumerate(texts)
        ]

    def split_all(self, papers: Iterable[Paper]) -> Iterator[Chunk]:
        for paper in papers:
            yield from self.split(paper)


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
