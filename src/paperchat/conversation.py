"""Conversations: which papers a turn is about, decided from retrieval evidence before any LLM.

A conversation arrives as messages (the API, the UI and `paperchat chat` all send the same
shape): earlier questions, and earlier answers as the API returns them, with `[n]` markers in
the text and a "Sources:" block naming the cited papers (`assistant_content`).
`read_conversation` recovers the conversation's papers from them: the papers the last answer
cited, the first cited first. An answer that cites with markers but writes its titles only
inside its sentences (from another client) is searched for the collection's titles it holds.

`ConversationReader.read` then decides how to read the new turn. Words such as "it" or "its"
decide nothing ("which paper learns football player representations from match data, and
what's its pretraining task?" describes its own paper); evidence does:

- **standalone**: retrieval for the turn alone finds a paper confidently, one the turn names
  or one that holds the turn's distinctive terms clearly better than the conversation's
  papers do. The conversation is left behind.
- **follow-up**: otherwise the turn is about the conversation's papers, with or without a
  pronoun ("what's the final model called?"). They are retrieved for the turn's own terms, so
  the passages, and the sentences an answer quotes, are the ones that answer it.
- **comparison**: the turn asks to compare and leaves one side to the conversation ("how
  does X compare with it?", "how does X's way of ... differ?"), and finds one other paper on
  its own: that paper and the conversation's are both answered from.

A follow-up may point elsewhere in the conversation: to a paper of the last answer by its
place ("the second one"), or to "the other one", the paper the answer before the last cited
besides the last answer's one paper.

The papers a reading settles on are marked `named` on their hits: the turn refers to them,
so they lead the answer and are never declined. An LLM rewrite of the turn (when a capable
model serves) is used only when its own retrieval agrees with the reading.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any, Literal

from paperchat.citations import split_markers
from paperchat.corpus import paper_id_for
from paperchat.embedding import words
from paperchat.extractive import asks_for_several, asks_which_one, asks_which_paper
from paperchat.index import Filters
from paperchat.names import as_word, asked_names, name_like, paper_names, typed_name
from paperchat.records import Answer, Citation, Hit, Turn
from paperchat.retrieval import USING_PAPERS, Retriever, distinctive_terms
from paperchat.settings import AnswerSettings

log = logging.getLogger(__name__)

ReadingKind = Literal["standalone", "follow-up", "comparison"]
SOURCES_HEADER = "Sources:"
MAX_SOURCES = 20  # a Sources block longer than this is not one paperchat wrote
MAX_TITLE_CHARS = 400
MAX_CONVERSATION_PAPERS = 4
MAX_ANSWER_CHARS = 2000  # of an answer searched for the titles it cites (`_titled`)
_SOURCE_LINE = re.compile(r"^\[(\d{1,3})\]\s*(.+?)(?:\s+\((https?://\S+)\))?\s*$")
# The conversation's paper, referred to: "this one", "the previous paper".
_THAT_PAPER = (
    r"(?:this|that|the\s+(?:previous|former|first|earlier|last))\s+(?:one|paper|work|model"
    r"|method|approach)"
)
# ... as a question's subject: "How does it ...", "Is this ...".
# ... after a conjunction opening the turn or not: "And how does it compare to BLIP-2?".
_OPENING_CONJUNCTION = r"^\s*(?:(?:and|but|so|also|ok|okay)\b\s*,?\s*)?"
_IT_ASKED_ABOUT = (
    _OPENING_CONJUNCTION
    + r"(?:how|in\s+what\s+ways?|is|are|does|do)\s+(?:\w+\s+)?(?:it|they|this|that)"
)
# A comparison whose second side is left to the conversation: "how does X compare with it?",
# "how does X's way of ... differ?". With an object of its own ("compared with earlier
# datasets") a comparison word asks for nothing from the conversation.
_COMPARES_BACK = re.compile(
    r"\b(?:compared?|compares|comparison|differs?|difference|versus|vs\.?|contrasts?)\b"
    r"(?:\s+\w+){0,2}?\s*(?:(?:with|to|from|against|and)\s+(?:it|them|this|that|these|those"
    r"|" + _THAT_PAPER + r")\b|\W*$)"
    # ... or opens with the conversation's paper as its subject: "How does it compare to
    # BART?", "How is it different from ...?" (not "... and how large is it compared with
    # earlier datasets?", where "it" is what the question itself asks about).
    r"|" + _IT_ASKED_ABOUT + r"(?:\s+(?:paper|work|model|method|one))?\s+(?:\w+\s+)?"
    r"(?:compared?|compares|differs?|different|similar)\s+(?:to|from|with|than)\b"
    # ... or as the object of "compare": "Compare it with TCL.", "Contrast this one to BART."
    r"|\b(?:compare|contrast)\s+(?:it|this|that|" + _THAT_PAPER + r")"
    r"\s+(?:with|to|against|and)\b",
    re.IGNORECASE,
)
# The conversation's paper as the comparison's first side: "How does it compare to BART?",
# "Compare it with TCL." (not "How does BART compare with it?").
_ITSELF_FIRST = re.compile(
    _IT_ASKED_ABOUT + r"\b|^\s*(?:compare|contrast)\s+(?:it|they|this|that)\b", re.IGNORECASE
)
# The conversation's paper spoken of as "it": "How big is it?", "How much training data does
# it need?", "What does this model add?"; not the "it" of "Is it possible to ...".
_IT = re.compile(
    r"\b(?:it|its)\b|\bth(?:is|at)\s+(?:paper|model|method|work|approach|one)\b", re.IGNORECASE
)
_CLAUSE_END = re.compile(r"[,;]|\b(?:and|but)\b", re.IGNORECASE)
_DUMMY_IT = re.compile(
    r"\b(?:is|was)\s+it\s+(?:possible|true|necessary|worth|better|common|feasible)\b"
    r"|\bit\s+(?:is|was)\s+(?:possible|true|necessary|worth|better|common|feasible)\b",
    re.IGNORECASE,
)
# A paper of the last answer pointed to by its place in it: "the second one", "the latter",
# "the first and second papers", or a place alone where a noun is left out ("How does the
# second differ from the first?"); not "the first time", "the first to ...".
_PLACE = r"(?:first|second|third|fourth|last)"
_PLACE_NOUN = r"(?:ones?|papers?|works?|models?|methods?|approach(?:es)?)"
_AFTER_A_PLACE = (
    r"\s*(?:[?.!,;:)]|$)|\s+(?:and|or|vs\.?|versus|does|do|did|is|was|has|have|differs?"
    r"|compares?|uses?|proposes?|says?|achieves?|performs?)\b"
)
_POINTED = re.compile(
    rf"\bthe\s+(?P<places>{_PLACE}(?:\s*(?:,|and|or|&)\s+(?:the\s+)?{_PLACE})*)"
    rf"(?:\s+{_PLACE_NOUN}\b|(?={_AFTER_A_PLACE}))"
    r"|\bthe\s+(?P<side>former|latter)\b"
    # "Compare the first two", "the last three papers".
    r"|\bthe\s+(?P<end>first|last)\s+(?P<count>two|three|four)\b",
    re.IGNORECASE,
)
_COUNTS = {"two": 2, "three": 3, "four": 4}
# "Is there any other paper on recommendation?", "Show me more papers like that": papers
# besides the conversation's, on the turn's topic or, when it names none, the conversation's.
_OTHERS = re.compile(
    r"\b(?:another|(?<!the )other|more|similar|related)\s+(?:papers?|works?|studies)\b"
    r"|\b(?:papers?|works?|studies)\s+(?:like|similar\s+to)\s+(?:it|this|that)\b"
    # "Anything else on video editing?"; not "What else does it do?", about the paper.
    r"|\b(?:anything|something)\s+else\s+(?:on|about|in|for)\b"
    # "Who else works on video LLMs?": papers by others.
    r"|\b(?:who|anyone|anybody)\s+else\b",
    re.IGNORECASE,
)
# ... papers like it: "Is there a similar paper for vision?" is Zecoler's topic, for vision.
_LIKE_IT = re.compile(r"\b(?:similar|like|related)\b", re.IGNORECASE)
# "Which papers build on it for medical images?": papers besides it that use it, found by its
# name; the paper itself is no answer.
_USING_IT = re.compile(
    USING_PAPERS + r"(?P<it>it|this\s+(?:one|paper|model)|that)\b", re.IGNORECASE
)
# "What does the other one report?": the paper the answer before the last cited and the last
# one did not ("Which papers build Vietnamese or Portuguese LLMs?", "Which of them uses
# OpenLLaMA?", "What benchmark does the other one report?").
_THE_OTHER = re.compile(
    r"\bthe\s+other\s+(?:one|paper|work|study|model|method|approach)\b", re.IGNORECASE
)
# "How do the two differ?", "Compare them.": a comparison of papers the conversation has shown,
# both sides left to it. The papers are what is compared, not who compares: "Which datasets do
# they compare against?" asks about one paper.
_BOTH_SIDES = re.compile(
    r"\b(?:how|in\s+what\s+ways?)\s+(?:do|are|did)\s+(?:they|the\s+two|these|those|both)"
    r"(?:\s+\w+){0,2}?\s+(?:compare|differ|different|similar)\b"
    r"|\b(?:compare|contrast)\s+(?:them|the\s+two|both|these|those)\b"
    r"|\bdifferences?\s+between\s+(?:them|the\s+two|these|those|both)\b"
    # ... or which of them does better: "which one is more efficient?", "Which is faster?"
    r"|\bwhich(?:\s+one|\s+of\s+(?:them|the\s+two|these|those))?\s+(?:is|was|works|performs"
    r"|runs|scales)\s+(?:better|worse|more\s+\w+|less\s+\w+|\w{3,}er)\b",
    re.IGNORECASE,
)
# "And LLaMA?", "What about ALBEF?": the question before, asked of another name.
_ANOTHER_NAME = re.compile(
    r"^\s*(?:and|what\s+about|how\s+about)\s+(?:the\s+)?"
    r"(?!(?:how|what|which|why|when|where|who|is|are|does|do|did|can)\b)"
    r"(?P<name>[^\s?!]*(?:\s+[^\s?!]+){0,2}?[^\s?!.])\s*[?.!]?\s*$",
    re.IGNORECASE,
)
_THING = re.compile(r"\s+(?:paper|work|model|method|one)$", re.IGNORECASE)  # "the ALBEF paper"
_OTHERS_WORDS = frozenset(distinctive_terms("another other more similar like same kind"))
_PLACES = {"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1, "former": 0, "latter": -1}
# ... optionally followed by the name the abstract coins: '"Title" (ViLD) [1]'.
_QUOTED_TITLE = re.compile(r"\"([^\"\n]{8,400})\"(?:\s*\([^()\n]{1,60}\))?\s*\[(\d{1,3})\]")
# A line that is just a title and its marker ("ELECTRA: Pre-training ... [1].").
_BARE_TITLE = re.compile(r"^\s*([^\[\]\n\"]{8,400}?)\s*\[(\d{1,3})\]\s*\.?\s*$", re.MULTILINE)


# -- the conversation as messages ----------------------------------------------------------------


def format_sources(citations: Sequence[Citation]) -> str:
    """The short "Sources" list appended to answers for plain-text clients."""
    if not citations:
        return ""
    lines = [f"[{c.n}] {c.title}" + (f" ({c.url})" if c.url else "") for c in citations]
    return f"{SOURCES_HEADER}\n" + "\n".join(lines)


def assistant_content(answer: Answer) -> str:
    """The assistant message as the API returns it: the answer, then the Sources list.

    Clients send it back in later requests; `read_conversation` reads it there.
    """
    sources = format_sources(answer.citations)
    return f"{answer.text}\n\n{sources}" if sources else answer.text


@dataclass(frozen=True, slots=True)
class CitedPaper:
    paper_id: str
    title: str


@dataclass(frozen=True, slots=True)
class Conversation:
    """What the earlier turns tell about the new one."""

    questions: tuple[str, ...] = ()  # earlier user questions, oldest first
    papers: tuple[CitedPaper, ...] = ()  # the last answer's cited papers, first cited first
    answer: str = ""  # the last answer's text
    # Papers the answers before the last one cited and it did not, the latest answer's first.
    earlier: tuple[CitedPaper, ...] = ()
    previous: tuple[CitedPaper, ...] = ()  # the papers the answer before the last cited
    # Each earlier answer's cited papers, the latest answer first (for "the second one").
    lists: tuple[tuple[CitedPaper, ...], ...] = ()

    @property
    def last_question(self) -> str:
        return self.questions[-1] if self.questions else ""

    @property
    def paper_ids(self) -> tuple[str, ...]:
        return tuple(p.paper_id for p in self.papers)


def read_conversation(history: Sequence[Turn]) -> Conversation:
    """The earlier questions and the papers the last answer cited."""
    questions = tuple(t.content.strip() for t in history if t.role == "user" and t.content.strip())
    answers = [t.content for t in reversed(history) if t.role == "assistant"]
    last_answer = answers[0] if answers else ""
    papers = cited_papers(last_answer)[:MAX_CONVERSATION_PAPERS]
    shown = {p.paper_id for p in papers}
    earlier = [p for answer in answers[1:] for p in cited_papers(answer) if p.paper_id not in shown]
    earlier = list({p.paper_id: p for p in earlier}.values())[:MAX_CONVERSATION_PAPERS]
    lists = tuple(tuple(cited_papers(answer)[:MAX_CONVERSATION_PAPERS]) for answer in answers[1:])
    previous = tuple(cited_papers(answers[1])) if len(answers) > 1 else ()
    return Conversation(questions, tuple(papers), last_answer, tuple(earlier), previous, lists)


def asked_again(turn: str, conversation: Conversation) -> str | None:
    """The question before asked of the name the turn gives instead: "Which papers use
    GPT-4?" then "And LLaMA?" asks "Which papers use LLaMA?", not about the papers using
    GPT-4; "What does BridgeTower score on VQAv2?" then "What about ALBEF?" asks for ALBEF's
    score. The question before is the latest that is no such turn itself ("And BERT?" next
    asks "Which papers use BERT?"); the name replaced is its only one, or its only one a
    paper the conversation cited carries. None unless the turn gives a name alone."""
    given = _ANOTHER_NAME.match(turn)
    name = _THING.sub("", given["name"]) if given else ""
    if not any(map(name_like, name.split())):
        return None
    before = next((q for q in reversed(conversation.questions) if not _ANOTHER_NAME.match(q)), "")
    names = asked_names(before)
    if len(names) > 1:
        cited = (*conversation.papers, *conversation.earlier, *chain(*conversation.lists))
        carried = {n for p in cited for n in paper_names(p.title)}
        names = [n for n in names if n in carried]
    if len(names) != 1:
        return None
    written = as_word(typed_name(names[0], before), re.IGNORECASE)
    if not written.search(before):
        return None  # written otherwise ("CLIP-like"): no word to put the new name in
    return written.sub(lambda _: name, before)


def listed_back(turn: str, conversation: Conversation) -> Conversation:
    """The conversation whose last papers are those a place in the turn points into: "Tell
    me more about the second one" after an answer citing one paper (which of four "uses a
    codec?") points into the latest answer before it that cited two or more."""
    places = _places(turn)
    need = max((i + 1 for i in places if i >= 0), default=0)
    if need <= len(conversation.papers) or placed_beside_it(turn, conversation):
        return conversation
    for papers in conversation.lists:
        if len(papers) >= need:
            return replace(conversation, papers=papers)
    return conversation


def after_a_decline(conversation: Conversation) -> Conversation:
    """The conversation whose papers, when the last answer cited none (it declined), are the
    latest earlier answer's: "What is KIND?", "Does it use LoRA?" (declined: KIND's abstract
    does not mention LoRA), then "What does the abstract say about SVD?" is about KIND."""
    if conversation.papers:
        return conversation
    cited = next((papers for papers in conversation.lists if papers), ())
    return replace(conversation, papers=cited) if cited else conversation


def placed_beside_it(turn: str, conversation: Conversation) -> CitedPaper | None:
    """The paper a turn compares the last answer's one paper with by its place in an earlier
    list: "How does it differ from the first?" after "Which papers ...?" (three papers) and
    "What does the last one propose?" (one): the list's first paper, beside "it". None when
    the turn points to no single place, or to "it" itself."""
    places = _places(turn)
    if len(conversation.papers) != 1 or len(places) != 1 or not compares_back(turn):
        return None
    it = conversation.papers[0].paper_id
    for papers in conversation.lists:
        if len(papers) > 1 and -len(papers) <= places[0] < len(papers):
            found = papers[places[0]]
            return found if found.paper_id != it else None
    return None


def cited_papers(content: str) -> list[CitedPaper]:
    """The papers an answer cites, in the order its text first cites them.

    Titles come from the Sources block the API appends; without one, from the quoted titles
    the extractive answer writes ('According to "Title" [1], ...'), or from lines that are
    a title and its marker. A title the collection does not hold simply finds no paper later.
    """
    body, titles = _split_sources(content)
    if not titles:
        titles = {int(n): t for t, n in _QUOTED_TITLE.findall(body)}
    if not titles:
        titles = {int(n): t.strip() for t, n in _BARE_TITLE.findall(body)}
    _, order = split_markers(body)
    ordered = [n for n in order if n in titles] + [n for n in titles if n not in order]
    papers = [CitedPaper(paper_id_for(titles[n]), titles[n]) for n in ordered]
    return list({p.paper_id: p for p in papers}.values())


def _split_sources(content: str) -> tuple[str, dict[int, str]]:
    """The answer text and its Sources block as {n: title}; {} when there is none."""
    lines = content.splitlines()
    header = next(
        (i for i in range(len(lines) - 1, -1, -1) if lines[i].strip() == SOURCES_HEADER), None
    )
    if header is None:
        return content, {}
    titles: dict[int, str] = {}
    for line in lines[header + 1 : header + 1 + MAX_SOURCES]:
        match = _SOURCE_LINE.match(line.strip())
        if match and len(match.group(2)) <= MAX_TITLE_CHARS:
            titles.setdefault(int(match.group(1)), match.group(2))
    return "\n".join(lines[:header]), titles


# -- reading a turn --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """How a turn is read: the papers it is about and the question retrieval answered."""

    kind: ReadingKind
    turn: str  # the user's words: the sentences of the answer are chosen for them
    question: str  # a standalone question (for the model's prompt and Answer.question)
    hits: list[Hit]
    context_terms: tuple[str, ...] = ()  # extra terms the answer's sentences are scored on


@dataclass(frozen=True, slots=True)
class Evidence:
    """How strongly one paper answers the turn's own words."""

    relevance: float  # dense cosine of the turn and the paper's best chunk
    coverage: float  # IDF-weighted share of the turn's distinctive terms the paper holds

    @classmethod
    def of(cls, hits: Sequence[Hit]) -> Evidence:
        """The best of each signal over the hits (none: no evidence)."""
        return cls(
            max((h.relevance or 0.0 for h in hits), default=0.0),
            max((h.coverage or 0.0 for h in hits), default=0.0),
        )


Rewrite = Callable[[str, Sequence[Turn]], str | None]


class ConversationReader:
    """Decides what a turn is about from retrieval evidence, then retrieves for it."""

    def __init__(self, retriever: Retriever, settings: AnswerSettings) -> None:
        self.retriever = retriever
        self.settings = settings

    def read(
        self,
        turn: str,
        history: Sequence[Turn] = (),
        *,
        k: int | None = None,
        mode: str | None = None,
        rewrite: Rewrite | None = None,
        filters: Filters | None = None,
    ) -> Reading:
        """The reading of `turn` after `history`; `rewrite` is an optional LLM rewrite;
        `filters` restrict every retrieval of the turn (the user's date/category/... choice)."""
        window = self.settings.history_turns
        turns = [t for t in history if t.role in ("user", "assistant")]
        if filters is not None and filters != Filters():
            scoped = ConversationReader(_Filtered(self.retriever, filters), self.settings)
            return scoped.read(turn, history, k=k, mode=mode, rewrite=rewrite)
        conversation = read_conversation(turns[-window:] if window else [])
        if not conversation.papers and conversation.answer:
            conversation = self._titled(conversation)
        conversation = listed_back(turn, after_a_decline(conversation))
        if again := asked_again(turn, conversation):
            return Reading("standalone", again, again, self.retriever.search(again, k=k, mode=mode))
        alone = self.retriever.search(turn, k=k, mode=mode)
        if not conversation.questions:
            return Reading("standalone", turn, turn, alone)
        if not conversation.papers:
            reading = self._without_papers(turn, conversation, alone, k, mode)
        else:
            reading = self._with_papers(turn, conversation, alone, k, mode)
        if rewrite is not None and reading.kind != "standalone" and reading.hits:
            return self._checked_rewrite(reading, rewrite, turns, k, mode)
        return reading

    def _titled(self, conversation: Conversation) -> Conversation:
        """The papers an answer written elsewhere cites by their titles in its sentences
        ("Yes, Too Large; Data Reduction for ... [1] proposes TL;DR."), in the order written:
        papers of the collection whose whole title the answer holds."""
        body, cites = split_markers(conversation.answer)
        text = " ".join(body.split())[:MAX_ANSWER_CHARS]
        if not cites or not text:  # cites nothing: declined (its "closest papers" are no answer)
            return conversation
        held = text.casefold()
        where = {
            h.paper_id: (held.find(" ".join(h.title.split()).casefold()), h.title)
            for h in self.retriever.search(text, k=MAX_CONVERSATION_PAPERS)
        }
        found = sorted((at, pid, title) for pid, (at, title) in where.items() if at >= 0)
        papers = tuple(CitedPaper(pid, title) for _, pid, title in found)
        return replace(conversation, papers=papers) if papers else conversation

    # -- the decision ------------------------------------------------------------------------

    def _with_papers(
        self,
        turn: str,
        conversation: Conversation,
        alone: list[Hit],
        k: int | None,
        mode: str | None,
    ) -> Reading:
        ours = self._papers(turn, conversation.paper_ids, mode)
        if not ours:
            # No cited title is a paper here: words around a title ("Yes, CoAVT: ... [1].")
            # may have been read as part of it; the titles the answer holds are found instead.
            conversation = self._titled(replace(conversation, papers=()))
            ours = self._papers(turn, conversation.paper_ids, mode) if conversation.papers else []
        if not ours:  # the cited titles are not in this collection (another index)
            return Reading("standalone", turn, turn, alone)
        if earlier := self._earlier_side(turn, conversation, ours, mode):
            return earlier
        if _OTHERS.search(turn) or _USING_IT.search(turn):
            return self._others(turn, conversation, ours[0], k, mode)
        own = [h for h in alone if h.paper_id not in conversation.paper_ids]
        # "the second one": about the conversation's papers, whatever else its words find.
        pointed = pointed_papers(turn, ours)
        if not pointed and compares_back(turn) and self._one_paper(turn, own, ours):
            return self._comparison(turn, conversation, own[0], ours)
        if not pointed and len(ours) == 1 and conversation.earlier and compares_both(turn):
            # "Tell me about SELFormer." ... "And 3D-MolT5?" "How do the two differ?": the
            # other side is the paper an earlier answer was about.
            earlier = self._papers(turn, [conversation.earlier[0].paper_id], mode)
            if earlier:
                return self._comparison(turn, conversation, earlier[0], ours)
        # A turn about "it" stays with the conversation's paper, however well its few common
        # words ("big", "training data") fit another paper: "How big is it?".
        alone_better = not refers_back(turn) and self._standalone(turn, own, ours)
        if not pointed and (any(h.named for h in own) or alone_better):
            return Reading("standalone", turn, turn, alone)
        # "And what about ChineseWebText 2.0?": the papers of the conversation the turn names.
        named = {h.paper_id for h in alone if h.named}
        pointed = pointed or [h for h in ours if h.paper_id in named]
        # The turn alone finds the conversation's paper first: it needs no rewrite.
        finds_ours = bool(alone) and alone[0].paper_id in conversation.paper_ids
        return self._follow_up(turn, conversation, ours, rewritten=not finds_ours, pointed=pointed)

    def _earlier_side(
        self, turn: str, conversation: Conversation, ours: list[Hit], mode: str | None
    ) -> Reading | None:
        """The reading of a turn pointing past the last answer's one paper to a paper an
        earlier answer cited: "the other one" (`_the_other`), or a place in an earlier list
        compared with "it" (`placed_beside_it`); None when it points to none."""
        if _THE_OTHER.search(turn) and (other := self._the_other(turn, conversation, mode)):
            return self._follow_up(turn, conversation, ours, rewritten=True, pointed=other)
        beside = placed_beside_it(turn, conversation)
        if beside and (other := self._papers(turn, [beside.paper_id], mode)):
            return self._comparison(turn, conversation, other[0], ours)
        return None

    def _the_other(self, turn: str, conversation: Conversation, mode: str | None) -> list[Hit]:
        """The one paper the answer before the last cited besides the last answer's one
        paper; [] when "the other" could mean several, or none."""
        shown = set(conversation.paper_ids)
        left = [p for p in conversation.previous if p.paper_id not in shown]
        if len(conversation.papers) != 1 or len(left) != 1:
            return []
        return self._papers(turn, [left[0].paper_id], mode)

    def _standalone(self, turn: str, own: Sequence[Hit], ours: Sequence[Hit]) -> bool:
        weight = self.retriever.term_weight(turn)
        return finds_its_own_paper(own, ours, weight, self.settings)

    def _one_paper(self, turn: str, own: Sequence[Hit], ours: Sequence[Hit]) -> bool:
        """The turn names or describes exactly one paper outside the conversation."""
        named = [h for h in own if h.named]
        if len(named) > 1:
            return False  # it names its own papers to compare: standalone
        if not named and asked_names(turn):
            return False  # "compare it to BLIP-2": a name no paper here carries, none described
        return len(named) == 1 or self._standalone(turn, own, ours)

    # -- readings ----------------------------------------------------------------------------

    def _papers(self, turn: str, paper_ids: Sequence[str], mode: str | None) -> list[Hit]:
        """The conversation's papers, scored for the turn's own words, in citation order."""
        found = self.retriever.search(
            turn,
            k=len(paper_ids),
            mode=mode,
            filters=Filters(paper_ids=tuple(paper_ids)),
        )
        rank = {pid: i for i, pid in enumerate(paper_ids)}
        return sorted(found, key=lambda h: rank.get(h.paper_id, len(rank)))

    def _follow_up(
        self,
        turn: str,
        conversation: Conversation,
        ours: list[Hit],
        *,
        rewritten: bool,
        pointed: Sequence[Hit] = (),
    ) -> Reading:
        # The papers the turn points to by place (`pointed_papers`), else the first cited
        # paper, which is what "it" means; the others of a multi-paper answer join when the
        # earlier question asked about several ("which papers ...?"). Only they are answered
        # from: the turn is about them, whatever else shares its words.
        about = list(pointed) or (
            ours if asks_for_several(conversation.last_question) else ours[:1]
        )
        if not pointed and len(about) > 1 and asks_which_one(turn):
            # One of the papers just listed: the one holding most of the turn's own words,
            # and of those the one whose title holds them ("Which of them uses an LLM?":
            # S2IP-LLM, not a paper whose abstract mentions LLMs as background).
            asked = set(distinctive_terms(turn))
            about = [
                max(
                    about,
                    key=lambda h: (
                        h.coverage or 0.0,
                        len(asked.intersection(words(h.title))),
                        h.relevance or 0.0,
                    ),
                )
            ]
        hits = [replace(h, named=True) for h in about]
        titles = " and ".join(f'"{h.title}"' for h in about)
        question = f"{turn} (about {titles})" if rewritten else turn
        return Reading("follow-up", turn, question, hits)

    def _comparison(
        self, turn: str, conversation: Conversation, other: Hit, ours: list[Hit]
    ) -> Reading:
        mine = self.retriever.search(
            turn,
            k=1,
            filters=Filters(paper_ids=(other.paper_id,)),
        )
        papers = [*(mine or [other]), ours[0]]
        if _ITSELF_FIRST.search(turn):
            papers.reverse()  # in the order the turn names its sides
        hits = [replace(h, named=True) for h in papers]
        titles = " and ".join(f'"{h.title}"' for h in papers)
        # "compare with it" rarely says on what: the earlier question's terms say it.
        context = tuple(distinctive_terms(conversation.last_question))
        return Reading("comparison", turn, f"{turn} (comparing {titles})", hits, context)

    def _others(
        self,
        turn: str,
        conversation: Conversation,
        ours: Hit,
        k: int | None,
        mode: str | None,
    ) -> Reading:
        """Papers besides the conversation's: on the turn's own topic; on its paper's too,
        as the title says it after the name ("mBLIP: Efficient Bootstrapping of Multilingual
        Vision-LLMs"), when the turn names none ("Are there other papers like this?") or asks
        for papers like it ("Is there a similar paper for vision?"); or, for papers using it
        ("Which papers build on it for medical images?"), by its name ("CLIP") in its place."""
        own_topic = set(distinctive_terms(turn)) - _OTHERS_WORDS
        title = conversation.papers[0].title.split(":", 1)[-1]
        # Without its names ("Vision-LLMs" -> "Vision"): other papers need not use them.
        parts = (p for word in title.split() for p in word.split("-"))
        topic = " ".join(p for p in parts if not name_like(p))
        name = _written_name(ours, conversation)
        using = _USING_IT.search(turn)
        if using and name:
            # "Which papers build on CLIP for medical images?": asked of the name as written.
            question = f"{turn[: using.start('it')]}{name}{turn[using.end('it') :]}"
        elif not own_topic or _LIKE_IT.search(turn):
            question = f"{turn} {topic}"
        else:
            question = turn
        shown = set(conversation.paper_ids)
        k = k or self.retriever.settings.k
        found = self.retriever.search(question, k=k + len(shown), mode=mode)
        hits = [h for h in found if h.paper_id not in shown][:k]
        return Reading("standalone", turn, question, hits)

    def _without_papers(
        self,
        turn: str,
        conversation: Conversation,
        alone: list[Hit],
        k: int | None,
        mode: str | None,
    ) -> Reading:
        """The last answer cited nothing (it declined): the earlier question may help."""
        weight = self.retriever.term_weight(turn)
        if alone and (
            alone[0].named
            or Evidence.of(alone[:1]).coverage * weight >= self.settings.standalone_terms
        ):
            return Reading("standalone", turn, turn, alone)
        joined = f"{turn} {conversation.last_question}"
        hits = self.retriever.search(joined, k=k, mode=mode)
        return Reading("follow-up", turn, joined, hits)

    # -- an LLM's rewrite, checked ------------------------------------------------------------

    def _checked_rewrite(
        self,
        reading: Reading,
        rewrite: Rewrite,
        turns: Sequence[Turn],
        k: int | None,
        mode: str | None,
    ) -> Reading:
        """The model's standalone question, when retrieval for it finds the same papers."""
        text = rewrite(reading.turn, turns)
        if not text:
            return reading
        found = self.retriever.search(text, k=k, mode=mode)
        about = [h.paper_id for h in reading.hits if h.named] or [reading.hits[0].paper_id]
        top = [h.paper_id for h in found[: len(about)]]
        if sorted(top) != sorted(about):
            log.info("the model's rewrite %r finds other papers than the evidence; unused", text)
            return reading
        return replace(reading, question=text)


class _Filtered:
    """A retriever whose every search keeps to the user's filters (per call: thread-safe)."""

    def __init__(self, retriever: Retriever, filters: Filters) -> None:
        self._retriever = retriever
        self._filters = filters

    def search(self, text: str, *, filters: Filters | None = None, **kwargs: Any) -> list[Hit]:
        # A search of given papers keeps the user's other restrictions.
        scoped = (
            replace(self._filters, paper_ids=filters.paper_ids)
            if filters is not None
            else self._filters
        )
        return self._retriever.search(text, filters=scoped, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._retriever, name)


def _written_name(hit: Hit, conversation: Conversation) -> str:
    """The paper's first name as its text or the conversation writes it ("CLIP", not the
    stored "clip"); "" when it has none."""
    name = next(iter(hit.names), "")
    text = " ".join(
        (hit.title, *hit.chunks, hit.text, conversation.answer, *conversation.questions)
    )
    found = [m.group() for m in as_word(name, re.IGNORECASE).finditer(text)] if name else []
    # As a name ("CLIP"), where the text also writes the word ("video clip").
    return next((w for w in found if name_like(w)), found[0] if found else name)


def _places(turn: str) -> list[int]:
    """The places in the last answer the turn points to ("the second one": 1; "the last": -1)."""
    places: list[int] = []
    for m in _POINTED.finditer(turn):
        if m["count"]:
            count = _COUNTS[m["count"].lower()]
            places += range(count) if m["end"].lower() == "first" else range(-count, 0)
        else:
            words = m["side"] or " ".join(re.findall(_PLACE, m["places"], re.IGNORECASE))
            places += [_PLACES[p.lower()] for p in words.split()]
    return places


def pointed_papers(turn: str, ours: Sequence[Hit]) -> list[Hit]:
    """The conversation's papers the turn points to by their place in the last answer ("How
    does the second one differ from the first one?"), in the order it names them; [] when it
    points to none it has."""
    places = _places(turn)
    found = [ours[i] for i in places if -len(ours) <= i < len(ours)]
    return list({h.paper_id: h for h in found}.values()) if len(found) == len(places) else []


def refers_back(turn: str) -> bool:
    """The turn speaks of the conversation's paper as "it" in its first clause ("How big is
    it?") and asks for no paper of its own: "Which paper learns football player
    representations, and what's its pretraining task?" and "Which dataset has 37.6 million
    ... examples, and how many languages does it span?" ask for a new paper or dataset, "it"
    being that one."""
    opened = re.sub(_OPENING_CONJUNCTION, "", turn, flags=re.IGNORECASE)
    first = _CLAUSE_END.split(opened, maxsplit=1)[0]
    it = _IT.search(first) and not _DUMMY_IT.search(first)
    return bool(it) and not asks_which_paper(turn)


def compares_back(turn: str) -> bool:
    """The turn asks for a comparison and leaves one side to the conversation."""
    return bool(_COMPARES_BACK.search(turn))


def compares_both(turn: str) -> bool:
    """The turn compares papers it only refers to ("How do the two differ?", "Compare
    them."): both sides are the conversation's."""
    return bool(_BOTH_SIDES.search(turn))


def finds_its_own_paper(
    own: Sequence[Hit], ours: Sequence[Hit], term_weight: float, settings: AnswerSettings
) -> bool:
    """The turn alone finds a paper outside the conversation that answers it clearly better
    than the conversation's papers: it holds at least `standalone_terms` more of the turn's
    IDF mass (its distinctive terms; `term_weight` is their total) and is at least
    `standalone_relevance` closer in dense similarity.

    A follow-up ("how many parameters does it have?") shares a few common terms with many
    papers, the conversation's among them: the gains stay small. A new question describes
    its paper in specific terms that the conversation's papers lack.

    `own`: hits for the turn alone, without the conversation's papers; `ours`: the
    conversation's papers, scored for the turn.
    """
    if not own:
        return False
    top, theirs = Evidence.of(own[:1]), Evidence.of(ours)
    terms = (top.coverage - theirs.coverage) * term_weight
    return (
        terms >= settings.standalone_terms
        and top.relevance - theirs.relevance >= settings.standalone_relevance
    )
