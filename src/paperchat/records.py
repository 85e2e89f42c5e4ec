"""Typed records that flow through the pipeline: corpus -> chunks -> index -> hits -> answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlsplit

# Hosts whose links are the paper itself; other links in an abstract are code or project pages.
PAPER_HOSTS = (
    "arxiv.org",
    "doi.org",
    "openreview.net",
    "aclanthology.org",
    "huggingface.co/papers",
)
ARXIV_TITLE_SEARCH = "https://arxiv.org/search/?query={query}&searchtype=title"


def is_web_url(url: str) -> bool:
    """Only http(s) links are ever shown or followed (no javascript:, data:, file:)."""
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def paper_link(title: str, urls: Sequence[str] = ()) -> str:
    """A link to the paper: its own page when an abstract link is one, else an arXiv search
    for its title (the shipped listings carry no paper URLs)."""
    for url in urls:
        if is_web_url(url) and any(host in url for host in PAPER_HOSTS):
            return url
    return ARXIV_TITLE_SEARCH.format(query=quote_plus(" ".join(title.split())))


ARXIV_ABS = "https://arxiv.org/abs/"
DOI_ORG = "https://doi.org/"


@dataclass(frozen=True, slots=True)
class PaperMeta:
    """Bibliographic metadata a source file gives; each field is empty when none does."""

    authors: tuple[str, ...] = ()  # names, as the source writes them
    year: int | None = None
    venue: str | None = None  # journal, proceedings or journal-ref
    doi: str | None = None  # bare, lower case: 10.xxxx/...
    arxiv_id: str | None = None  # without version: 2003.10555 or hep-th/9901001
    categories: tuple[str, ...] = ()  # arXiv categories (cs.CL, ...) or BibTeX keywords
    url: str | None = None  # the record's own link to the paper

    def link(self, found: tuple[str, ...] = ()) -> str | None:
        """Where a citation points: the record's URL, else arXiv, else DOI, else a link
        the abstract itself gives (code or project page)."""
        if self.url:
            return self.url
        if self.arxiv_id:
            return ARXIV_ABS + self.arxiv_id
        if self.doi:
            return DOI_ORG + self.doi
        return found[0] if found else None

    def merged(self, other: PaperMeta) -> PaperMeta:
        """Gaps filled from another source's record; lists united, first source first."""
        return PaperMeta(
            authors=self.authors or other.authors,
            year=self.year or other.year,
            venue=self.venue or other.venue,
            doi=self.doi or other.doi,
            arxiv_id=self.arxiv_id or other.arxiv_id,
            categories=tuple(dict.fromkeys((*self.categories, *other.categories))),
            url=self.url or other.url,
        )


NO_META = PaperMeta()


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper of the collection, merged across every file that lists it."""

    paper_id: str
    title: str
    abstract: str
    sources: tuple[str, ...] = ()
    authors: int | None = None
    date: str | None = None  # ISO yyyy-mm-dd when the listing gives a full date
    urls: tuple[str, ...] = ()  # the record's URL and the links found in the abstract
    meta: PaperMeta = NO_META
    line: int | None = field(default=None, compare=False)  # where its record starts, for reports

    @property
    def url(self) -> str | None:
        """The paper's link (see `PaperMeta.link`)."""
        return self.meta.link(self.urls)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A token window of one paper; the title travels with every chunk."""

    chunk_id: str  # UUID string, stable for (paper_id, position, text)
    paper_id: str
    title: str
    text: str
    position: int
    content_hash: str  # hash of the paper's title + abstract: unchanged papers are skipped
    sources: tuple[str, ...] = ()
    date: str | None = None
    urls: tuple[str, ...] = ()
    meta: PaperMeta = NO_META
    names: tuple[str, ...] = ()  # normalised: the title's names and the abstract's coinage

    @property
    def embed_text(self) -> str:
        """What the embedders see: the title first, then the window."""
        return embed_text(self.title, self.text)


def embed_text(title: str, window: str) -> str:
    """What the embedders see of a chunk (`Chunk.embed_text`)."""
    return f"{title}\n{window}"


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved paper: its best chunks and a fused score."""

    paper_id: str
    title: str
    score: float
    text: str  # best matching chunk
    chunks: tuple[str, ...] = ()  # best chunks, best first (text includes the first)
    sources: tuple[str, ...] = ()
    date: str | None = None
    urls: tuple[str, ...] = ()
    relevance: float | None = None  # cosine of the question and the best chunk (abstention)
    coverage: float | None = None  # share of the question's distinctive terms it holds
    named: bool = False  # the question calls this paper by one of its names
    names: tuple[str, ...] = ()  # the paper's stored names (`Chunk.names`); () before they were
    meta: PaperMeta = NO_META
    # The question uses a name ("GPT-4") this paper's title and chunks never mention.
    lacks_names: bool = False
    # It holds every name the question uses ("Which papers compare with ALBEF?", "papers on RAG").
    holds_names: bool = False

    @property
    def url(self) -> str | None:
        return self.meta.link(self.urls)

    @property
    def page(self) -> str | None:
        """The paper's own page: the record's URL, else arXiv, else DOI (no abstract link)."""
        return self.meta.link()

    def to_search_record(self, rank: int) -> dict[str, object]:
        """The stable `paperchat search --json` / `/v1/search` shape."""
        return {
            "rank": rank,
            "paper_id": self.paper_id,
            "title": self.title,
            "score": round(self.score, 6),
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered source the answer cites; `n` matches the `[n]` marker in the text."""

    n: int
    paper_id: str
    title: str
    url: str | None = None
    passage: str = ""
    urls: tuple[str, ...] = ()  # every link of the abstract (code, project pages)
    relevance: float | None = None  # the paper's dense similarity to the question
    page: str | None = None  # the paper's own page (see `Hit.page`)

    @property
    def link(self) -> str:
        """Where a reader can open the paper: its own page (the record's URL, arXiv, DOI)
        when known, else a paper page the abstract links, else a title search (`paper_link`)."""
        if self.page and is_web_url(self.page):
            return self.page
        return paper_link(self.title, self.urls or ((self.url,) if self.url else ()))

    def to_dict(self) -> dict[str, object]:
        return {"n": self.n, "paper_id": self.paper_id, "title": self.title, "url": self.url}


@dataclass(slots=True)
class Answer:
    """The answer to one question with the evidence behind it."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    # Answered on weak evidence: the text opens with TENTATIVE_NOTE (abstention.tentative).
    tentative: bool = False
    hits: list[Hit] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # sentences no source supports
    invalid_markers: list[int] = field(default_factory=list)  # [n] that named no source
    question: str = ""  # the standalone question actually used for retrieval
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    usage: dict[str, int] = field(default_factory=dict)  # prompt/completion tokens
    finish_reason: str = "stop"  # "length" when cut at max_tokens, "cancelled" when stopped

    def to_dict(self) -> dict[str, object]:
        """The stable `paperchat ask --json` shape."""
        return {
            "answer": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "abstained": self.abstained,
            "tentative": self.tentative,
            "retrieved": [h.to_search_record(i) for i, h in enumerate(self.hits, start=1)],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "question": self.question,
            "unsupported": self.unsupported,
        }


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation, as OpenAI's chat format has it."""

    role: str  # "user" | "assistant" | "system"
    content: str
