"""The extractive answer: the abstract sentences that answer the question, each cited.

No model writes anything, so every sentence is faithful by construction; what matters is
which sentences and which papers. Sentences are scored by how well they answer the question
(dense similarity from the already loaded embedder, plus the share of the question's
distinctive terms they contain, a little more when they speak of the paper itself), not by
their position; the names of the papers the question calls by name are left out of both, as
they say which paper, not what answers. A paper is cited only when it answers: the papers
the question names (only those, when it names several), else retrieval's top paper, plus
another paper only when its best sentence answers clearly better and it holds as much of the
question's terms; a comparison takes every paper that answers nearly as well, and a "which
papers" question every paper that stands nearly as well as the top one on the whole paper
(similarity, coverage and best sentence together); none that holds little of the question's
terms. Several papers each get their own best sentences, after the one saying what the paper
proposes (and none of the field's background before it); so does one paper asked how it
works ("How does ALIP deal with noisy pairs?" also gets "the authors propose ALIP, a bi-path
model ...") or found by a "which paper" question; a few keywords, a request for its gist,
papers compared side by side and a paper found by "which paper" also get the sentence right
after that one, which says how the method works. A "which paper" question leads with the
paper's title; a title without a name is followed by the name its abstract coins ("(ViLD)").
A paper asked for (by "which paper", a few keywords or a request for its gist), and each
paper of a question asking for results, also gets its sentence reporting what it achieves
(asked for results, a measured one when the paper has one); asked for a quantity, an answer
without a number gets the paper's best sentence with one. Abstracts speak as "we"; quoted
here they speak of "the authors" ("we propose" -> "the authors propose", "our" -> "their"; a
single author's "I introduce" -> "the author introduces").

`ExtractiveAnswer.compose` takes the question and optional extra context terms (for
example from a conversation), so callers other than the answerer can reuse it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from paperchat.citations import CheckedSentence, split_markers, split_sentences, with_markers
from paperchat.embedding import Embedder, words
from paperchat.names import (
    coined_name,
    distinctive_names,
    name_like,
    normalise,
    paper_names,
    spelled,
    text_names,
    whole_names,
)
from paperchat.prompts import Source
from paperchat.records import Hit
from paperchat.retrieval import distinctive_terms
from paperchat.tex import plain

MIN_SENTENCE_WORDS = 5  # shorter pieces of an abstract are headings or cut-offs
SENTENCES_ONE_PAPER = 4  # sentences quoted when one paper answers
SENTENCES_PER_PAPER = 3  # ... per paper when several do
MAX_PAPERS = 3  # papers quoted, unless the question names more
OVERLAP_WEIGHT = 0.5  # score = cosine + OVERLAP_WEIGHT * share of the question's terms
QUANTITY_BONUS = 0.1  # a sentence with a number, for a question asking for a quantity
PROPOSAL_BONUS = 0.05  # a sentence saying what the paper proposes: what most questions ask
POINTING_BACK_PENALTY = 0.1  # "While they ...", "It ...": needs the sentence before it
# A sentence that speaks of the paper itself ("we ...", "this paper ...", its own name) says
# what the paper does; one that does not is often the field's background.
ABOUT_PAPER_BONUS = 0.1
MIN_LINK_WORDS = 12  # a shorter sentence with a link is a "code is at ..." note, no answer
# Another paper joins the answer when its best sentence scores within this much of the lead
# paper's best: narrow for a question about one thing, wide for one about several papers.
SECOND_PAPER_MARGIN = -0.05
MULTI_PAPER_MARGIN = 0.2
MAX_LIST_PAPERS = 4  # papers a "which papers ..." question may list
MAX_ASKED_PAPERS = 10  # papers a question may ask for by number ("Give me 5 papers ...")
# A list is about whole papers: a paper joins it when its standing (retrieval's similarity,
# plus a share of its coverage of the question's terms and of its best sentence's score) is
# within the margin of the lead's. No one signal decides: a paper close in embedding space
# may hold none of what is asked, and one sentence scoring well says little of a paper.
LIST_COVERAGE_WEIGHT = 0.25
LIST_SENTENCE_WEIGHT = 0.25
LIST_MARGIN = 0.3
# A paper joins only holding this share of the best paper's coverage of the question's terms:
# close in embedding space but without the asked vocabulary, it is a neighbour, not an answer.
# A list asks for more: each listed paper is presented as being about the topic.
COVERAGE_SHARE = 0.4
LIST_COVERAGE_SHARE = 0.5
# Within a paper, further sentences must score within this much of its best one: wider when
# several papers answer, where each paper's aspect may sit in a less central sentence.
SENTENCE_MARGIN = 0.25
SEVERAL_SENTENCE_MARGIN = 0.4
# ... and wider for a few keywords ("sparse attention long context"): they ask for no one
# aspect, so the answer gives the gist of the paper they find.
KEYWORDS_SENTENCE_MARGIN = 0.45

# How a question asks for papers to be compared ("compare", "differ", "vs", "in common").
_COMPARING = (
    r"compare[sd]?|comparison|comparing|differ|differs|difference|differences|versus|vs\.?"
    r"|in\s+common|similarities|different(?:ly)?\s+(?:from|than)"
)
# Asked about several papers: a comparison, "both", or a plural "which papers ...". Not
# "each" or "contrast": "contrast within each modality" is about one method.
_MULTI = re.compile(
    rf"\b(?:{_COMPARING}|both|respectively)\b"
    r"|^\s*(?:which|what|name\s+the|list\s+the|find\s+the)\s+"
    # ... but "Which paper studies ..." asks for one: there "studies" is the verb.
    r"(?!(?:paper|work|study|article|method|approach|model|system|resource)\b)"
    r"(?:[\w-]+\s+){0,3}?(?:papers|works|studies|articles|approaches|methods|models)\b",
    re.IGNORECASE,
)
# A comparison of things the question lists ("Compare A and B", "How do A and B differ?").
_COMPARES = re.compile(rf"\b(?:{_COMPARING})(?!\w)", re.IGNORECASE)
_THEMSELVES = re.compile(r"\b(?:they|them|these|those|each)\b", re.IGNORECASE)
_COMPARED_APART = re.compile(r",|\b(?:and|or|with|versus|vs)\b", re.IGNORECASE)
_WHICH_PAPER = re.compile(
    r"^\s*(?:which|what|name\s+the|find\s+the)\s+(?:[\w-]+\s+){0,2}?"  # "vision-language"
    r"(?:paper|work|study|article|publication)s?\b",
    re.IGNORECASE,
)
# A request for papers, not in question form: "Give me papers on text-to-SQL", "papers about
# sign language", "Are there any papers on ...?" (plural, a list).
_PAPERS_REQUEST = re.compile(
    r"^\s*(?:please\s+)?(?:(?:give|show|list|find|recommend|suggest)\s+(?:me\s+)?"
    r"|(?:are\s+there|is\s+there|do\s+you\s+have)\s+)?(?:any\s+|some\s+|all\s+|the\s+)?"
    r"(?:[\w-]+\s+){0,2}?(?:papers|works|studies|articles)\s+(?:on|about|that|which|for|in)\b"
    # ... or said as a need: "I'm looking for work on ...", "need refs for ..."
    r"|^\s*(?:(?:i|we)\s*(?:['\u2019]m|['\u2019]re|am|are)?\s+)?(?:looking|searching)\s+for\s+(?:\w+\s+){0,2}?"
    r"(?:papers?|works?|research|studies|literature|references|refs)\s+(?:on|about|for|in)\b"
    r"|^\s*(?:(?:i|we)\s+)?need\s+(?:\w+\s+){0,2}?"
    r"(?:papers|works?|research|studies|literature|references|refs)\s+(?:on|about|for|in)\b"
    # ... or for anything the collection holds on a topic: "Does the collection have anything
    # on time series forecasting?", "Is there anything about sign language?"
    r"|^\s*(?:(?:does|do)\s+(?:the\s+collection|it|you)\s+(?:have|hold|contain|include)\s+"
    r"|is\s+there\s+)?(?:anything|something)\s+(?:on|about|regarding|related\s+to)\b",
    re.IGNORECASE,
)
# A number of papers asked for: "Give me 3 papers about ...", "top five works on ...".
_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_ASKED_COUNT = re.compile(
    rf"\b(\d{{1,3}}|{'|'.join(_NUMBERS)}|a\s+couple\s+of)\s+(?:[\w-]+\s+){{0,2}}?"
    r"(?:papers?|works?|studies|study|articles?|publications?)\b",
    re.IGNORECASE,
)
# A question asks (a "?", or a question or request word first); a few keywords do not.
_ASKS = re.compile(
    r"\?|^\s*(?:what|which|how|who|whom|whose|why|when|where|is|are|was|were|does|do|did|can"
    r"|could|should|would|will|has|have|compare|find|list|name|show|give|tell|explain"
    r"|describe|summari[sz]e)\b",
    re.IGNORECASE,
)
# A request for a paper's gist: it asks for no one aspect, like a few keywords.
_GIST = re.compile(
    r"^\s*(?:please\s+)?(?:summari[sz]e|describe|explain|tell\s+me\s+about"
    r"|give\s+(?:me\s+)?(?:an?\s+)?(?:overview|summary)\s+of)\b"
    r"|^\s*what\s+is\s+.{1,60}\s+about\s*\??\s*$",
    re.IGNORECASE,
)
# Where a paper's code is: asked by place, by host, or as being open.
_CODE_ASKED = re.compile(
    r"\bwhere\b[^?]*\b(?:code|implementation|weights|checkpoints?|repo|repository|models?)\b"
    r"|\b(?:github|gitlab|repository|repo)\b"
    # ... open as a predicate ("Is ALBEF open source?"), not "open-source language models".
    r"|\bopen[- ]?sourced?(?:\s+code|\s+implementation)?\s*[?.!]?\s*$"
    r"|\b(?:code|implementation|weights|checkpoints?)\b[^?.]{0,30}?"
    r"\b(?:available|public|released|online)\b"
    r"|\blink\s+(?:to|for)\s+(?:the\s+|its\s+)?(?:code|implementation)\b"
    r"|\b(?:is|are)\s+there\s+(?:any\s+)?(?:code|implementations?)\b",
    re.IGNORECASE,
)
# An address in an abstract: "https://github.com/...", "https;//..." (a typo some listings
# keep), "www....", a bare "github.com/...".
_ADDRESS = re.compile(
    r"(?:https?[:;]//|www\.|(?<![\w./])github\.com/)[^\s{}()<>\[\]\"'`]+", re.IGNORECASE
)
MAX_LINKS = 3
# A request for a paper's abstract itself: "What is the abstract of ELECTRA?", "Show me its
# abstract", "What does the abstract of KIND say?".
_ABSTRACT = re.compile(
    r"\babstract\s+(?:of|for)\b"
    # ... the abstract as a noun, not "the abstract idea behind UL2" or "abstract syntax".
    r"|\b(?:the|its|their|full|whole)\s+abstracts?"
    r"(?=\s*(?:[?.!,]|$|(?:say|says|said|read|reads|again|please|in\s+full)\b))",
    re.IGNORECASE,
)
# "How does X work / reduce ...?": asks for the method, which the sentence saying what the
# paper proposes states, even when the question's words sit in its background sentences.
_HOW = re.compile(r"^\s*how\s+(?:does|do|did|can|could|is|are|was|were)\b", re.IGNORECASE)
_GIST_WORDS = re.compile(r"\b(?:summari[sz]e|describe|explain|overview|summary|about)\b", re.I)
_QUANTITY = re.compile(
    r"\b(how\s+(?:many|much|fast|large|big|long|often|quickly)|what\s+(?:score|accuracy|number"
    r"|percentage|size|rate)|by\s+how)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d")
# A measured result: a share, a multiple or a decimal score, not a name's digits ("VQAv2",
# "Kinetics-400").
_MEASURE = re.compile(r"\d(?:\.\d+)?\s*(?:%|[x\u00d7](?![a-z]))|\b\d+\.\d+\b", re.IGNORECASE)
_RESULT = re.compile(
    r"\b(?:outperform\w*|surpass\w*|state[- ]of[- ]the[- ]art|achiev\w*|sets?\s+a\s+new"
    r"|\d+(?:\.\d+)?\s*%)",
    re.IGNORECASE,
)
_RESULTS_ASKED = re.compile(
    r"\b(?:results?|perform(?:s|ed|ance)?|how\s+well|achiev\w*|outperform\w*|gains?)\b",
    re.IGNORECASE,
)
_EXPERIMENTS = re.compile(r"\b(?:experiment\w*|results?|evaluations?)\b", re.IGNORECASE)
# "We (also) ...", "This paper ...", a single author's "I ...": the paper doing something.
_THE_PAPER_DOES = r"\b(?:we|(?-i:I)|this paper|this work|this study)\s+(?:\w+\s+)?"
_PROPOSAL = re.compile(
    _THE_PAPER_DOES + r"(?:propose|introduce|present|develop|design)", re.IGNORECASE
)
# What a paper made, saying what it proposes when no sentence proposes anything ("we create a
# gender-controlled text dataset, GECO"); beside a proposal it is a part ("we construct a new
# image-text dataset" of FILIP).
_MADE = re.compile(_THE_PAPER_DOES + r"(?:construct|create|build)", re.IGNORECASE)
_POINTS_BACK = re.compile(
    r"^(?:(?:while|although|but|and|yet|so)\s+)?(?:they|it|its|their|these|those|such"
    r"|this(?!\s+(?:paper|work|study|article)))\b",
    re.IGNORECASE,
)
_FIRST_PERSON_WORD = re.compile(
    r"\b(?:we|our|my|this (?:paper|work|study))\b|(?:^|, )(?-i:I)\s", re.IGNORECASE
)
# Words of how a comparison is asked: a sentence holding them ("we compare ...") answers nothing.
_ASKING_FORMS = (
    *("compare", "compares", "compared", "comparing", "comparison"),
    *("differ", "differs", "difference", "differences", "versus", "contrast"),
)
_ASKING = re.compile(r"\b(?:" + "|".join(_ASKING_FORMS) + r")\b", re.IGNORECASE)
_ASKING_WORDS = frozenset(words(" ".join(_ASKING_FORMS)))
# "Which one uses data flow?", "Which of them needs less memory?": one of the papers just
# listed. How it is asked, not what: "one" is no term an answer should hold.
_WHICH_ONE = re.compile(
    r"\bwhich\s+(?:one|of\s+(?:them|these|those|the\s+(?:two|three|four|papers)))\b",
    re.IGNORECASE,
)
_LINK = re.compile(r"https?://|github\.com", re.IGNORECASE)
# Discourse openers that only make sense after the abstract's previous sentence.
_OPENER = re.compile(
    r"^(?:(?:however|moreover|furthermore|additionally|in addition|specifically|in particular"
    r"|consequently|therefore|thus|then|finally|besides|notably|to this end|as an alternative"
    # An abstract's steps ("First, ...", "Next, ...") and asides: quoted alone, no step.
    r"|first(?:ly)?|second(?:ly)?|third(?:ly)?|lastly|next|here|meanwhile|subsequently"
    r"|nevertheless|hence|further|particularly|remarkably|overall|in contrast"
    r"|as a result|(?:in order )?to (?:address|tackle|overcome|solve|bridge|alleviate|mitigate"
    r"|fill|close|resolve|confront|handle|answer) (?:this|these|the|such|that)(?: \w+){0,2}"
    r"|(?:motivated|inspired) by (?:this|these|such)(?: \w+){0,2}|based on (?:this|these)(?: \w+)?"
    r"|in this (?:paper|work|study|article)),\s+"
    r"|in this (?:paper|work|study|article|survey)\s+(?=we\b))+",
    re.IGNORECASE,
)
# A word, not part of a hyphenated name: the benchmark "We-Math" stays.
_FIRST_PERSON = tuple(
    (re.compile(rf"(?<![\w-]){word}(?![\w-])"), said)
    for word, said in (
        ("Our", "Their"),
        ("our", "their"),
        ("ours", "theirs"),
        ("ourselves", "themselves"),
        ("us", "them"),
        ("My", "Their"),
        ("my", "their"),
    )
)
# Quoted, "this paper" doing something is the paper cited: "According to CoCa [1], the paper
# presents ...". Only as the subject: "in this paper" reads well in a quote.
_THIS_PAPER = re.compile(r"(?:^|(?<=, ))([Tt])his (paper|work|study|article)\b")
# "We" is "the authors" once; after that, "they": "the authors show that they can ...".
_WE = re.compile(r"(?<![\w-])[Ww]e(?![\w-])")
_AFTER_STOP = re.compile(r"(?:^|[.!?]\s+)$")
# A single author writes "I": "In this paper, I introduce X" -> "the author introduces X". Only
# opening a sentence or a clause: "Type I error" is no author.
_I_VERB = re.compile(
    r"(?:^|(?<=, ))I((?:\s+(?:also|further|then|first|thus|therefore|\w+ly))?)\s+([a-z]+)\b"
)
_SINGULAR = {"am": "is", "are": "is", "have": "has", "do": "does", "were": "was"}
_MODALS = {"can", "could", "will", "would", "shall", "should", "may", "might", "must"}


def _he_or_she(verb: str) -> str:
    """The verb after "I" as after "the author": "introduce" -> "introduces"."""
    if verb in _SINGULAR:
        return _SINGULAR[verb]
    if verb in _MODALS or verb.endswith("ed") or verb in {"did", "was", "had"}:
        return verb
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in tuple("aeiou"):
        return verb[:-1] + "ies"
    return verb + "s"


def third_person(sentence: str) -> str:
    """An abstract's sentence as a reader reports it: "we" -> "the authors" (then "they"),
    "our" -> "their"."""
    said = 0

    def authors(match: re.Match[str]) -> str:
        nonlocal said
        said += 1
        # Opening a sentence, also one the abstract forgot to capitalise ("... process. we").
        opens = match[0] == "We" or _AFTER_STOP.search(match.string, 0, match.start())
        word = "they" if said > 1 else "the authors"
        return _upper_first(word) if opens else word

    sentence = _WE.sub(authors, sentence)
    sentence = _THIS_PAPER.sub(r"\1he \2", sentence)  # "This paper" -> "The paper"
    for pattern, replacement in _FIRST_PERSON:
        sentence = pattern.sub(replacement, sentence)
    return _I_VERB.sub(
        lambda m: f"{'The' if m.start() == 0 else 'the'} author{m[1]} {_he_or_she(m[2])}",
        sentence,
    )


def asks_for_several(question: str) -> bool:
    """The question is about more than one paper (a comparison, a list, "A and B")."""
    return bool(_MULTI.search(question) or _PAPERS_REQUEST.search(question))


def asks_which_one(question: str) -> bool:
    """The question asks which one of the papers just talked about does something."""
    return bool(_WHICH_ONE.search(question))


def is_keywords(question: str) -> bool:
    """A few keywords ("replaced token detection"), not a question or a request."""
    return not _ASKS.search(question)


def asks_gist(question: str) -> bool:
    """A request for a paper's gist: "Summarize the BART paper", "Tell me about SpeechT5"."""
    return bool(_GIST.search(question))


def asks_only_paper(question: str, scored: Sequence[Candidate], n: int) -> bool:
    """The question names paper `n` and asks nothing more of it: "What is DCD?", "What does
    BridgeTower do?". It asks for the paper's gist, not for the sentences closest to "What is
    the paper?", which are any of its sentences."""
    hit = next(c.source.hit for c in scored if c.source.n == n)
    return hit.named and not set(distinctive_terms(_unnamed(question, [hit]))) - _ASKING_WORDS


def asks_abstract(question: str) -> bool:
    """A request for a paper's whole abstract, quoted as it is."""
    return bool(_ABSTRACT.search(question))


def abstract_sentence(title: str, abstract: str, n: int) -> str:
    """The paper's abstract quoted whole after its title and number; TeX read as text."""
    return f'The abstract of "{plain(title)}" [{n}]: "{plain(" ".join(abstract.split()))}"'


def asks_code(question: str) -> bool:
    """A request for where a paper's code is: "Where can I find the code for BridgeTower?",
    "Is ALBEF open source?", "Is there a GitHub link for Language-Codec?"; not a question about
    code as a subject ("Which paper pre-trains on code?")."""
    return bool(_CODE_ASKED.search(question))


def code_sentence(title: str, abstract: str, n: int) -> str:
    """Where the abstract says the paper's code is, or that it says nowhere; citing `n`."""
    found = [m.group().rstrip(".,;:") for m in _ADDRESS.finditer(abstract)]
    links = list(dict.fromkeys(found))[:MAX_LINKS]
    named = f'The abstract of "{plain(title)}" [{n}]'
    if not links:
        return f"{named} gives no link to its code."
    return f"{named} gives the link{'s' if len(links) > 1 else ''} {join_words(links)}."


def asks_how(question: str) -> bool:
    """A question about how something is done ("How does MOS reduce forgetting?"), not about
    a quantity ("How many ...")."""
    return bool(_HOW.search(question)) and not _QUANTITY.search(question)


def asks_which_paper(question: str) -> bool:
    return bool(_WHICH_PAPER.search(question) or _PAPERS_REQUEST.search(question))


def asks_which_papers(question: str) -> bool:
    """ "Which papers ...", in the plural: not "Which paper compares ..." """
    if _PAPERS_REQUEST.search(question):
        return True
    found = _WHICH_PAPER.search(question)
    return bool(found and found.group().lower().endswith("s"))


def asked_count(question: str) -> int | None:
    """How many papers the question asks for ("Give me 3 papers on ...": 3), at most
    `MAX_ASKED_PAPERS`; None when it asks for no number."""
    found = _ASKED_COUNT.search(question)
    if not found:
        return None
    said = found.group(1).lower()
    n = 2 if said.startswith("a") else _NUMBERS.get(said) or int(said)
    return max(1, min(n, MAX_ASKED_PAPERS))


@dataclass(frozen=True, slots=True)
class Candidate:
    """One whole sentence of a source's passage, where it stands, and how well it answers."""

    source: Source
    text: str
    position: int
    score: float = 0.0


class ExtractiveAnswer:
    """Chooses and words the sentences of an extractive answer."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def compose(
        self,
        question: str,
        sources: Sequence[Source],
        context_terms: Sequence[str] = (),
        tentative: bool = False,
    ) -> list[CheckedSentence]:
        """The answer's sentences, in order, each citing its source. A `tentative` answer
        (abstention.tentative) calls the paper a "which paper" question finds the closest."""
        scored = self.score(question, candidates(sources), context_terms)
        if not scored:
            return []
        papers = choose_papers(question, scored)
        one = len(papers) == 1
        count = SENTENCES_ONE_PAPER if one else SENTENCES_PER_PAPER
        margin = SENTENCE_MARGIN if one else SEVERAL_SENTENCE_MARGIN
        gist = asks_gist(question) or (one and asks_only_paper(question, scored, papers[0]))
        # Summarise it, or a few keywords: no aspect asked, the answer is the paper's gist.
        outline = one and (gist or is_keywords(question))
        if outline:
            margin = KEYWORDS_SENTENCE_MARGIN
        # Papers side by side (not a list of papers on a topic, where each is quoted for what
        # puts it on the list), and the paper a "which paper" question finds, are told by how
        # they work.
        compared = not one and not asks_which_papers(question)
        found = one and asks_which_paper(question)
        # Side by side, found, asked for its gist or how it works, a paper is introduced by
        # what it proposes.
        introduce = outline or gist or found or not one or asks_how(question)
        # Asked for a paper, or for results, a paper also says what it achieves.
        asked_for = outline or found
        measured = bool(_RESULTS_ASKED.search(question))  # "How does CoCa perform?"
        results = asked_for or measured
        wants_number = bool(_QUANTITY.search(question))
        chosen: dict[int, list[Candidate]] = {}
        for n in papers:
            own = [c for c in scored if c.source.n == n]
            picked = pick_sentences(own, count, margin, introduce, main=gist)
            if outline or compared or found:
                picked = with_method(own, picked, count, gist=outline)
            picked = with_result(own, picked, count, measured) if results else picked
            chosen[n] = with_number(own, picked, count) if wants_number else picked
        return list(write(question, papers, chosen, tentative))

    def score(
        self, question: str, found: Sequence[Candidate], context_terms: Sequence[str] = ()
    ) -> list[Candidate]:
        """Each candidate with its score: dense similarity plus term overlap (+ numbers)."""
        if not found:
            return []
        # "Compare ..." would draw the abstract's own "we compare ..." sentences, and
        # "Summarize ..." its "summarization" ones: how it is asked is left out.
        asked = _GIST_WORDS.sub(" ", question) if asks_gist(question) else question
        query = " ".join([_ASKING.sub(" ", _WHICH_ONE.sub(" ", asked)), *context_terms])
        vectors = self.embedder.embed([c.text for c in found])
        # Each paper's title words and name words, worked out once, not once per sentence.
        hits = {c.source.hit.title: c.source.hit for c in found}
        cosines = vectors @ self.embedder.embed_query(_unnamed(query, hits.values()))
        papers = {title: _PaperWords.of(hit) for title, hit in hits.items()}
        # Paper names say which paper, and "compare" how it is asked; neither says what answers.
        names = set().union(*(p.name for p in papers.values()))
        terms = set(distinctive_terms(query)) - names - _ASKING_WORDS
        wants_number = bool(_QUANTITY.search(question))
        return [
            Candidate(
                c.source,
                c.text,
                c.position,
                _score(c, float(cos), terms, wants_number, papers[c.source.hit.title]),
            )
            for c, cos in zip(found, np.atleast_1d(cosines), strict=True)
        ]


@dataclass(frozen=True, slots=True)
class _PaperWords:
    """The stemmed words of a paper's title, and of its whole names."""

    title: frozenset[str]
    name: frozenset[str]

    @classmethod
    def of(cls, hit: Hit) -> _PaperWords:
        name = frozenset(w for n in _names(hit) for w in words(n))
        return cls(frozenset(words(hit.title)), name)


def _names(hit: Hit) -> list[str]:
    """A paper's whole names: its title's, and, when the question calls it by one, the names
    its abstract coins (stored names that are no title name); not the words inside a title
    ("LLM" of "Aligned with LLM"). An unnamed paper's coinage is just a word of its text. A
    paper whose title has a name ("UL2") is called so: the acronyms its abstract defines name
    its parts ("Mixture-of-Denoisers (MoD)"), which "What is MoD?" asks about."""
    of_title = set(paper_names(hit.title))
    own = hit.named and not distinctive_names(hit.title)
    coined = [n for n in hit.names if n not in of_title] if own else []
    return [*whole_names(hit.title), *coined]


def _unnamed(query: str, hits: Iterable[Hit]) -> str:
    """The query with the names of the papers it names replaced by "the paper": the name
    says which paper, and would draw the sentences that merely repeat it."""
    named = {n for hit in hits if hit.named for n in _names(hit)}
    for name in sorted(named, key=len, reverse=True):
        query = spelled(name, re.IGNORECASE).sub("the paper", query)
    return query


def _score(
    candidate: Candidate, cosine: float, terms: set[str], wants_number: bool, paper: _PaperWords
) -> float:
    """Cosine, plus the share of the question's terms in the sentence, plus small bonuses.

    Terms of the paper's title do not count: they say which paper, not what answers.
    """
    text = candidate.text
    asked = terms.difference(paper.title) or terms
    present = set(words(text))
    overlap = len(asked.intersection(present)) / len(asked) if asked else 0.0
    bonus = QUANTITY_BONUS if wants_number and _NUMBER.search(text) else 0.0
    bonus += PROPOSAL_BONUS if _PROPOSAL.search(text) else 0.0
    bonus -= POINTING_BACK_PENALTY if _POINTS_BACK.search(text) else 0.0
    if _FIRST_PERSON_WORD.search(text) or (paper.name and paper.name <= present):
        bonus += ABOUT_PAPER_BONUS
    return cosine + OVERLAP_WEIGHT * overlap + bonus


def candidates(sources: Sequence[Source]) -> list[Candidate]:
    """Each distinct whole sentence of the passages, without markers, with its source."""
    seen: set[str] = set()
    found: list[Candidate] = []
    for source in sources:
        windows = source.passage.split(" ... ")  # merge_chunks' joint between windows
        for sentence in (s for window in windows for s in split_sentences(window)):
            claim, _ = split_markers(sentence)
            key = " ".join(claim.lower().split())
            if whole_sentence(claim) and key not in seen and not _link_note(claim):
                seen.add(key)
                found.append(Candidate(source, claim, len(found)))
    return found


def whole_sentence(text: str) -> bool:
    """False for the cut-off ends of a token window ("we thus propose a ...")."""
    words_ = text.split()
    return (
        len(words_) >= MIN_SENTENCE_WORDS
        and (text[0].isupper() or text[0].isdigit() or text[0] in "\"'(")
        and text.rstrip("\"')")[-1:] in ".!?"
    )


def _link_note(text: str) -> bool:
    return bool(_LINK.search(text)) and len(text.split()) < MIN_LINK_WORDS


def choose_papers(question: str, scored: Sequence[Candidate]) -> list[int]:
    """The source numbers that answer the question, the lead paper first.

    Papers the question names lead; otherwise retrieval's top paper does (its hybrid rank
    weighs the whole abstract, one sentence does not). A question naming several papers is
    about those papers only. Others join only on evidence. A plural "which papers" question
    lists the papers whose standing (similarity, coverage and best sentence) is near the
    lead's, the best standing ones when more are. Other questions take a paper whose best
    sentence scores within the margin of the lead's: a wide margin for a question about
    several papers, a narrow one otherwise, where the other paper must also hold as much of
    the question's terms.
    """
    best: dict[int, float] = {}
    for c in scored:
        best[c.source.n] = max(best.get(c.source.n, -1.0), c.score)
    named = sorted({c.source.n for c in scored if c.source.hit.named})
    if len(named) > 1:
        return named
    lead = named or [min(best)]
    several = asks_for_several(question)
    if named and not several:
        return lead  # the question is about the paper it names
    listing = several and asks_which_paper(question)
    if named and not listing and _names_another(question, scored, named[0]):
        # "How is ELECTRA different from BERT?": BERT is no paper of the collection (it would
        # be named too), and ELECTRA's abstract is what speaks of it, not papers using BERT.
        return lead
    coverage = {c.source.n: c.source.hit.coverage or 0.0 for c in scored}
    most = max(coverage.values())
    # In retrieval's order: its ranking weighs whole abstracts, a sentence score one sentence.
    others = sorted(n for n in best if n not in lead)
    asked = asked_count(question)
    if asked or asks_which_papers(question):
        covering = [n for n in others if coverage[n] >= most * LIST_COVERAGE_SHARE]
        standing = _standing(scored, best, coverage)
        if asked:
            # "Give me 3 papers on ...": as many as asked, when they hold enough of the
            # question's terms; only the lead when none does.
            limit, near = asked, covering
        else:
            bar = max(standing[n] for n in lead) - LIST_MARGIN
            limit, near = MAX_LIST_PAPERS, [n for n in covering if standing[n] >= bar]
        # More than the list holds: the best standing ones, in retrieval's order as lists are.
        kept = sorted(near, key=lambda n: -standing[n])[: max(0, limit - len(lead))]
        return [*lead, *sorted(kept)][:limit]
    margin = MULTI_PAPER_MARGIN if several else SECOND_PAPER_MARGIN
    bar = max(best[n] for n in lead) - margin
    others = [n for n in others if coverage[n] >= most * COVERAGE_SHARE and best[n] >= bar]
    if not several:  # a second answer to a question about one thing holds as much of it
        held = max(coverage[n] for n in lead)
        others = [n for n in others if coverage[n] >= held]
    return [*lead, *others][: min(MAX_PAPERS, compared_count(question))]


def _standing(
    scored: Sequence[Candidate], best: dict[int, float], coverage: dict[int, float]
) -> dict[int, float]:
    """How well each paper answers a list question: similarity, coverage, best sentence."""
    relevance = {c.source.n: c.source.hit.relevance or 0.0 for c in scored}
    return {
        n: relevance[n] + LIST_COVERAGE_WEIGHT * coverage[n] + LIST_SENTENCE_WEIGHT * best[n]
        for n in best
    }


def compares(question: str) -> bool:
    """The question compares ("Compare ...", "How does X differ from Y?", "X vs Y")."""
    return bool(_COMPARES.search(question))


def compared_count(question: str) -> int:
    """How many things a comparison compares, at most: "Compare LexLIP and Unified Lexical
    Representation." two, whichever of them the collection names; one more for each further
    "and", comma, "or", "with" or "vs" (an overcount only loosens the cap). A question that
    compares nothing has no such bound, nor one comparing the papers it asks for ("Which
    datasets ..., and how do they differ?": its "and" joins clauses, not papers)."""
    if not _COMPARES.search(question) or _THEMSELVES.search(question):
        return MAX_PAPERS
    return 1 + max(1, len(_COMPARED_APART.findall(question)))


def _names_another(question: str, scored: Sequence[Candidate], n: int) -> bool:
    """Whether the question holds a name ("BERT") other than those of paper `n`."""
    hit = next(c.source.hit for c in scored if c.source.n == n)
    own = {normalise(part) for name in _names(hit) for part in [name, *name.split()]}
    asked = re.findall(r"\w[\w.-]*\w|\w", question)
    return any(name_like(w) and normalise(w) not in own for w in asked)


def pick_sentences(
    scored: Sequence[Candidate],
    count: int,
    margin: float = 0.0,
    introduce: bool = False,
    main: bool = False,
) -> list[Candidate]:
    """A paper's best sentences (those within `margin` of its best), in the abstract's order.

    With `introduce` (several papers side by side) the paper's best sentence saying what it
    proposes comes too, whatever its score: a comparison needs what each paper is, and
    "We present BART, a denoising autoencoder ..." rarely shares the question's words. With
    `main` (the paper's gist) it is the abstract's first such sentence, the paper's main
    proposal, not a part proposed later ("First, we propose to use a teacher network"). A
    sentence that points back ("While they ...") is kept only right after the sentence it
    points to; quoted first, its "they" would mean the paper's authors. The best sentence
    brings the one it points to along.
    """
    ranked = sorted(scored, key=lambda c: -c.score)
    if not ranked:
        return []
    intro = None
    if introduce:
        # The main proposal is the abstract's first; otherwise the one closest to the question.
        intro = _proposal(sorted(scored, key=lambda c: c.position) if main else ranked)
    intros = [intro] if intro else []
    if intro:
        # Before what the paper proposes, a sentence not speaking of the paper is the field's
        # background ("Video-language pre-training has advanced ..."): it says what any
        # paper of the field would, not what this one does.
        ranked = [c for c in ranked if c.position > intro.position or _speaks_of_paper(c)]
    close = [c for c in ranked if c is not intro and c.score >= ranked[0].score - margin]
    close = sorted(close[: count - len(intros)], key=lambda c: c.position)
    at = {c.position for c in [*close, *intros]}
    best = ranked[0]
    before = {c.position: c for c in scored}.get(best.position - 1)
    if before and best in close and _POINTS_BACK.search(best.text) and before.position not in at:
        # The best answer ("It cuts the corpus to 0.3% ...") comes with what "it" is.
        close = sorted([*close, before], key=lambda c: c.position)
        at.add(before.position)
    readable = [c for c in close if not _POINTS_BACK.search(c.text) or c.position - 1 in at]
    if not readable and close and (intro is None or intro.position < close[0].position):
        readable = close[:1]  # the best there is, unless it would open the answer as "they"
    return sorted([*readable, *intros], key=lambda c: c.position)


def _proposal(candidates: Sequence[Candidate]) -> Candidate | None:
    """The first of the candidates saying what the paper proposes, else what it made."""
    for pattern in (_PROPOSAL, _MADE):
        found = next((c for c in candidates if pattern.search(c.text)), None)
        if found:
            return found
    return None


def with_method(
    scored: Sequence[Candidate], chosen: list[Candidate], count: int, gist: bool = True
) -> list[Candidate]:
    """The chosen sentences with the one right after the sentence saying what the paper
    proposes: it says how the paper works ("Specifically, we prune ...", "Our approach relies
    on ..."), which the question's words rarely match. For a gist (a few keywords, "Tell me
    about ..."), it takes the weakest later sentence's place if need be, and more follow while
    there is room, leaving one place for a result when none is chosen yet. Otherwise (papers
    side by side, where an aspect may be asked: "Compare the training data of ...") every
    sentence chosen for the question stays and the next one joins them."""
    proposal = _proposal(chosen)
    if proposal is None:
        return chosen
    following = sorted(
        (c for c in scored if c.position > proposal.position and not _tells_findings(c)),
        key=lambda c: c.position,
    )
    after = following[0] if following else None
    if not after or after.position != proposal.position + 1:
        after = None
    if not gist:
        if after is None or after in chosen:
            return chosen
        return sorted([*chosen, after], key=lambda c: c.position)
    room = count - (0 if any(_reports_result(c) for c in chosen) else 1)
    # Not one before the proposal: kept there, it speaks of the paper ("We analyse ...").
    others = [
        c
        for c in chosen
        if c.position > proposal.position and c is not after and not _reports_result(c)
    ]
    chosen = list(chosen)
    if after and after not in chosen and (len(chosen) < room or others):
        chosen.append(after)
    while len(chosen) > room and others:
        weakest = min(others, key=lambda c: c.score)
        others.remove(weakest)
        chosen.remove(weakest)
    chosen += [c for c in following if c not in chosen][: max(0, room - len(chosen))]
    return sorted(chosen, key=lambda c: c.position)


def _tells_findings(candidate: Candidate) -> bool:
    """What the paper found or achieved, not how it works."""
    return bool(_RESULT.search(candidate.text) or _EXPERIMENTS.search(candidate.text))


def with_result(
    scored: Sequence[Candidate], chosen: list[Candidate], count: int, measured: bool = False
) -> list[Candidate]:
    """The chosen sentences with the paper's best sentence reporting what it achieves: added,
    or, with `count` reached, in place of the weakest one that does not say what the paper
    proposes. `measured` (the question asks for results): a result with a measure, when the
    paper reports one; "How does CoCa perform?" is answered by "86.3% zero-shot top-1
    accuracy", not only by "achieves state-of-the-art performance"."""
    if measured and any(_measured_result(c) for c in scored):
        return _with_one(scored, chosen, count, _measured_result)
    return _with_one(scored, chosen, count, _reports_result)


def with_number(
    scored: Sequence[Candidate], chosen: list[Candidate], count: int
) -> list[Candidate]:
    """The chosen sentences with the paper's best sentence stating a number, as `with_result`:
    asked "how fast", an answer without any number has not answered."""
    if any(_NUMBER.search(c.text) for c in chosen):
        return chosen  # "It cuts the corpus to 0.3%" states it, after the sentence it follows
    return _with_one(scored, chosen, count, _states_number)


def _with_one(
    scored: Sequence[Candidate],
    chosen: list[Candidate],
    count: int,
    wanted: Callable[[Candidate], bool],
) -> list[Candidate]:
    if any(wanted(c) for c in chosen):
        return chosen
    taken = {c.position for c in chosen}
    found = [c for c in scored if c.position not in taken and wanted(c)]
    if not found:
        return chosen
    if len(chosen) >= count:
        replaceable = [c for c in chosen if not _PROPOSAL.search(c.text)]
        if not replaceable:
            return chosen
        weakest = min(replaceable, key=lambda c: c.score)
        chosen = [c for c in chosen if c is not weakest]
    # A number says more of a result than "achieves state-of-the-art performance".
    best = max(found, key=lambda c: c.score + (QUANTITY_BONUS if _NUMBER.search(c.text) else 0))
    return sorted([*chosen, best], key=lambda c: c.position)


def _measured_result(candidate: Candidate) -> bool:
    return bool(_MEASURE.search(candidate.text)) and _reports_result(candidate)


def _states_number(candidate: Candidate) -> bool:
    return bool(_NUMBER.search(candidate.text)) and not _POINTS_BACK.search(candidate.text)


def _reports_result(candidate: Candidate) -> bool:
    """A sentence reporting what the paper achieves: "Extensive experiments show that STAR
    achieves ...", not the field's background, "Pre-trained models have achieved ..."."""
    text = candidate.text
    if not _RESULT.search(text) or _POINTS_BACK.search(text):
        return False
    return _speaks_of_paper(candidate) or bool(_EXPERIMENTS.search(text))


def _speaks_of_paper(candidate: Candidate) -> bool:
    """The sentence speaks of the paper itself: "we", "this paper", or the paper's name."""
    if _FIRST_PERSON_WORD.search(candidate.text):
        return True
    present = set(words(candidate.text))
    names = [set(words(name)) for name in _names(candidate.source.hit)]
    return any(name and name <= present for name in names)


def write(
    question: str,
    papers: Sequence[int],
    chosen: dict[int, list[Candidate]],
    tentative: bool = False,
) -> list[CheckedSentence]:
    """The cited sentences: a title lead for "which paper" ("the closest" when `tentative`),
    then each paper's sentences.

    A paper is called by its title, with the name its abstract coins when the title holds
    none ("... Knowledge Distillation" (ViLD)): the name researchers know it by.
    """
    sources = {n: chosen[n][0].source for n in papers if chosen[n]}
    called = {n: _called(source, sources.values()) for n, source in sources.items()}
    sentences: list[CheckedSentence] = []
    if asks_which_paper(question):
        marked = [f"{called.pop(n)} [{n}]" for n in papers if n in sources]
        noun = "papers are" if len(marked) > 1 else "paper is"
        lead = f"The closest {noun} " if tentative else f"The {noun} "
        sentences.append(CheckedSentence(text=lead + join_words(marked) + ".", cited=list(papers)))
    for n in papers:
        for i, c in enumerate(chosen[n]):
            claim = _upper_first(third_person(_OPENER.sub("", plain(c.text))))
            if i == 0:
                name = called.pop(n, f'"{plain(c.source.hit.title)}"')
                text = f"According to {name} [{n}], {_lower_first(claim, c.source)}"
            else:
                text = with_markers(claim, [n])
            sentences.append(CheckedSentence(text=text, cited=[n]))
    return sentences


def _called(source: Source, among: Iterable[Source]) -> str:
    """The quoted title, and the name the abstract coins if no other source uses that word.
    The title reads its TeX as text ("S²IP-LLM: ..."); the Sources list keeps it as recorded."""
    others = [s.passage for s in among if s.n != source.n]
    name = coined_name(source.passage, source.hit.title, text_names(" ".join(others)))
    title = plain(source.hit.title)
    return f'"{title}" ({name})' if name else f'"{title}"'


def join_words(items: Sequence[str], conjunction: str = "and") -> str:
    """ "A", "A and B", "A, B and C" (or "or")."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _upper_first(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _lower_first(sentence: str, source: Source) -> str:
    """The sentence to follow "According to ..., ": its first word lowered when it is a
    plain word. Acronyms ("BERT ..."), the paper's names ("Ovis ...") and words its
    abstract capitalises mid-sentence too, proper nouns ("India ..."), stay as written."""
    first = sentence.split(" ", 1)[0].strip(",;:")
    if not (first[:1].isupper() and first[1:].islower()) and first != "A":
        return sentence
    own = normalise(first) in {*source.hit.names, *paper_names(source.hit.title)}
    # A function word ("The", "These") is no proper noun, even capitalised after a colon.
    proper = words(first) and re.search(rf"[^.!?\s]\s+{re.escape(first)}\b", source.passage)
    return sentence if own or proper else sentence[:1].lower() + sentence[1:]
