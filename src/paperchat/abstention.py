"""When the collection does not answer a question: the rule that declines it before any model,
and the one that marks an answer on weak evidence as tentative.

It runs on retrieval's evidence only, so the extractive answer and every model decline the
same questions, and an evaluation of retrieval alone can apply it too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from paperchat.citations import split_sentences
from paperchat.embedding import Embedder
from paperchat.extractive import compares
from paperchat.names import (
    asked_names,
    coined_names,
    defined_names,
    holds_name,
    mentions,
    misspells,
    name_like,
    normalise,
    paper_names,
    recased,
    releases,
    spelled,
    text_names,
    typed_name,
    writes_name,
)
from paperchat.records import Hit
from paperchat.retrieval import used_by_asked
from paperchat.settings import AnswerSettings

# Papers whose best chunks are read sentence by sentence for a paraphrase: the answer's
# lead papers; a paraphrase of a paper further down is not one the answer would quote.
SENTENCE_PAPERS = 3
# A name too short for `name_like` but one all the same: "T5", "mT5", "V2".
_SHORT_NAME = re.compile(r"[A-Za-z]{1,3}\d+[A-Za-z0-9]*")
# Words that may follow a name a paper introduces ("a framework W2PGNN to answer ...",
# "TERA, which ..."); another lower-case word makes the name a modifier ("BERT models").
_AFTER_A_NAME = frozenset({"to", "which", "that", "for", "is", "as", "with", "and", "or"})
# What a name introduced with its kind names ("a novel Text4Point framework"): one thing, in
# the singular; "BERT models" are a family the paper builds on.
_OWN_THING_WORDS = (
    "framework model method approach benchmark dataset metric architecture strategy system "
    "pipeline toolkit library corpus loss module paradigm technique algorithm objective mechanism"
    " optimizer network layer"
)
_OWN_THING = frozenset(_OWN_THING_WORDS.split())
# How far after "we propose" the name it introduces may come ("we propose a new continual
# vision-language representation learning framework, Mod-X").
INTRODUCED_CHARS = 120
# Words before a name that make it what the proposal builds on ("we build the pipeline upon
# ControlNet"), and "to" right after the verb ("we propose to reparameterize the pre-trained
# ViT"): a proposal to do something with a thing, not the thing.
_BUILT_ON = frozenset(
    {"upon", "atop", "using", "leveraging", "utilizing", "utilising", "extending"}
)


# A question for the paper a name comes from: "Which paper introduced BERT?", "Who proposed
# CLIP?", "In which paper was LoRA introduced?".
_ORIGIN = re.compile(
    r"^\s*(?:(?:which|what)\s+(?:paper|work|study|article|publication)\s+|who\s+)"
    r"(?:first\s+)?(?:introduced|introduces|proposed|proposes|presented|presents|invented"
    r"|created|developed|coined|came\s+up\s+with)\s+(?P<what>.+)$"
    r"|^\s*(?:where|in\s+which\s+paper|in\s+what\s+paper)\s+(?:was|were|is|are)\s+"
    r"(?P<was>.+?)\s+(?:first\s+)?(?:introduced|proposed|presented|described|invented)\b",
    re.IGNORECASE,
)
# A sentence in which a paper brings a name in: "we introduce SpeechInstructBench", "a model
# called TERA", "This paper presents Mod-X".
_INTRODUCES = re.compile(
    r"\b(?:we|the\s+authors?|(?:this|our)\s+(?:\w+\s+)?(?:paper|work|study|research|article"
    r"|report|approach|method|framework))\s+(?:\w+\s+){0,2}?"
    r"(?:propose|proposes|introduce|introduces|present|presents|develop|develops|design"
    r"|designs|build|builds|release|releases|call|name|dub|term)\b"
    r"|\b(?:called|named|dubbed|termed|coined)\b",
    re.IGNORECASE,
)


def origin_asked(question: str) -> list[str]:
    """The name a question asks the origin of ("Which paper introduced BERT?": ["bert"]), when
    the name is what it asks about: not "Which paper proposes SQL-guided pre-training ...?",
    where a name describes what was proposed, nor "Which paper presents a model ...?". A
    capitalised word counts as a name alone or before what it names ("the Transformer
    architecture", "Dropout"), not as a capitalised phrase's first word ("Contrastive
    Language-Image Pre-training")."""
    found = _ORIGIN.match(question)
    if not found:
        return []
    words = re.findall(r"[\w.+-]+|[,()?]", re.sub(r"^\s*the\s+", "", found["what"] or found["was"]))
    first = words[0].strip(".") if words else ""
    after = words[1] if len(words) > 1 else ""
    if not first[:1].isalpha():
        return []
    if not _is_name(first) and not (first[:1].isupper() and not after[:1].isupper()):
        return []
    if _modifies(after) and after not in _OWN_THING:
        return []
    return [normalise(first)]


def _is_name(word: str) -> bool:
    return name_like(word) or bool(_SHORT_NAME.fullmatch(word))


def _modifies(after: str) -> bool:
    """The word after a name makes it a modifier: "BERT models", "SQL-guided pre-training"."""
    return bool(re.fullmatch(r"[a-z]+(?:-[a-z]+)*", after)) and after not in _AFTER_A_NAME


def introduces(hit: Hit, name: str) -> bool:
    """The paper brings the name in: the name before its title's colon ("TERA: ..."), or the
    first name after a sentence of its abstract proposes, introduces or names something ("we
    introduce SpeechInstructBench", "a method called TERA"), a name its abstract coins or an
    acronym it defines ("... BEfore Fusing (ALBEF)"), or the code it releases ("... at
    github.com/OpenAI/CLIP"); not a name it merely uses ("we present PubMedCLIP, a fine-tuned
    version of CLIP" introduces PubMedCLIP, not CLIP)."""
    if ":" in hit.title and normalise(hit.title.split(":", 1)[0]) == name:
        return True
    text = " ".join(hit.chunks or (hit.text,))
    if releases(name, text):
        return True  # "We release our code ... at https://github.com/OpenAI/CLIP"
    coined = (*coined_names(text, hit.title), *defined_names(text))
    if name in {normalise(n) for n in coined}:
        return True  # "we propose ... Gradient-RegulAted Meta-prompt learning (GRAM)"
    for found in _INTRODUCES.finditer(text):
        clause = re.split(r"[.;:!?]", text[found.end() : found.end() + INTRODUCED_CHARS])[0]
        words = re.findall(r"[\w.+-]+|[,()]", clause)
        at = next((i for i, w in enumerate(words) if _names_it(words, i, name)), None)
        if at is None or normalise(words[at].strip(".")) not in (name, name + "s"):
            continue
        if words[0] == "to" or _BUILT_ON.intersection(w.casefold() for w in words[:at]):
            continue
        # "BERT models", "the CLIP image encoder": a name used to say what a thing is built on;
        # "a novel Text4Point framework", "the LaMP-BertScore metric": the thing's own name.
        after = words[at + 1] if at + 1 < len(words) else ""
        if not _modifies(after) or after in _OWN_THING:
            return True
    return False


def _names_it(words: list[str], i: int, name: str) -> bool:
    """Word `i` of what follows a naming verb is a name: one by its form ("ELECTRA", "mT5"),
    or the capitalised word asked about given right after the verb or a comma ("we introduce
    Selfie", "a framework, Voltron"); not one inside a phrase ("an all-in-one Transformer")."""
    word = words[i]
    if _is_name(word):
        return True
    if not word[:1].isupper() or normalise(word.strip(".")) not in (name, name + "s"):
        return False
    # A plain word only given as one; a name with parts anywhere ("a framework Mod-X").
    return not word.isalpha() or i == 0 or words[i - 1] == ","


def origin_missing(question: str, hits: Sequence[Hit]) -> str | None:
    """The name a question asks the origin of when no retrieved paper introduces it ("Which
    paper introduced BERT?", answered by a paper merely using BERT, "LegalTurk Optimized BERT
    ..."): the collection lacks that paper. `hits` should carry their whole abstracts. None
    otherwise."""
    if not hits:
        return None
    for name in origin_asked(question):
        held = [h for h in hits if _holds(h, name, question)]
        # A paper the question names, though no text holds the name as typed ("Electa"), may
        # be the one: retrieval found it by the name.
        if (held or not any(h.named for h in hits)) and not any(introduces(h, name) for h in held):
            return _as_asked(name, question)
    return None


def introducing(question: str, hits: Sequence[Hit]) -> list[Hit]:
    """The hits that introduce the name a question asks the origin of, as the question means
    it ("Which paper proposes LoRA?": the paper defining its own LoRA, not one that only
    fine-tunes with LoRA). `hits` should carry their whole abstracts."""
    names = origin_asked(question)
    return [h for h in hits if any(_holds(h, n, question) and introduces(h, n) for n in names)]


def _as_asked(name: str, question: str) -> str:
    """The name as the question writes it: "BERT", "the Transformer", "the Adam optimizer"."""
    typed = typed_name(name, question)
    the = re.search(r"\bthe\s+" + re.escape(typed) + r"(?:\s+(?P<thing>[a-z]+))?\b", question)
    if not the:
        return typed
    thing = the["thing"] if the["thing"] in _OWN_THING else None
    return f"the {typed} {thing}" if thing else f"the {typed}"


def _holds(hit: Hit, name: str, question: str) -> bool:
    """The paper writes the asked name, as the question means it: not "ADAM", an acronym it
    coins, for "Adam", the optimizer."""
    text = " ".join((hit.title, *hit.chunks))
    held = holds_name(name, text_names(text)) or releases(name, text)
    return held and not recased(name, question, text)


def _whole_text(hit: Hit) -> str:
    """The paper's title and text as retrieved (its whole abstract, for `whole_papers` hits)."""
    return " ".join((hit.title, *hit.chunks, hit.text))


def unused_name(question: str, hits: Sequence[Hit]) -> str | None:
    """The name a question asking for papers by what they use ("Which papers use UNITER?",
    `used_by_asked`) writes when no retrieved paper writes it (in `hits`' whole abstracts,
    the used paper's own left out by retrieval): the collection holds no such paper. The
    name as the question writes it."""
    used_as = used_by_asked(question)
    if used_as is None or not hits:
        return None
    for name in asked_names(used_as):
        if not any(writes_name(name, _whole_text(h)) for h in hits):
            return typed_name(name, used_as)
    return None


# A name's variant suffix: "-small" of "electra-small", "v2" of "vqav2", "-4" of "gpt-4".
_VARIANT = re.compile(r"(?:-[a-z0-9.]+|v?\d+(?:\.\d+)*)$")
MIN_BASE_CHARS = 3


def unheld_name(question: str, hits: Sequence[Hit], known: Callable[[str], bool]) -> str | None:
    """A name a question asks of the paper it names that the paper's whole abstract (`hits`,
    whole abstracts) never mentions and that names no paper of the collection (`known`):
    "What MMLU score does Medical mT5 get?" is answered by no sentence of Medical mT5's
    abstract, which says nothing of MMLU. The name as the question writes it; None when the
    question names no paper, or compares (`compared_missing`), or asks for a name's origin or
    its users (`origin_missing`, `unused_name`)."""
    named = [h for h in hits if h.named]
    if not named or compares(question) or origin_asked(question) or used_by_asked(question):
        return None
    own = {n for h in named for n in (*h.names, *paper_names(h.title))}
    texts = [(text, text_names(text), h.names) for h in named for text in [_whole_text(h)]]
    for name in asked_names(question):
        # A variant of a name is spoken of where the name is: "ELECTRA-Small" in ELECTRA's
        # abstract, "VQAv2" where it writes "VQA"; a misspelt name ("SELFormmer") is the
        # paper's own.
        base = _VARIANT.sub("", name)
        said = {name, base} if len(base) >= MIN_BASE_CHARS else {name}
        if said & own or known(name) or any(misspells(name, n) for n in own):
            continue
        if not any(mentions(n, text, held, mine) for text, held, mine in texts for n in said):
            return typed_name(name, question)
    return None


# A paper called by its name: "What does the Stable Diffusion 3 paper propose?", "Summarize
# the OFA paper". Capitalised words (or digits) right before "paper".
_CALLED = re.compile(
    r"\bthe\s+(?P<name>(?:[A-Z0-9][\w.+-]*\s+){0,3}[A-Z0-9][\w.+-]*)\s+(?:paper|article)\b"
)


# A side of a comparison: a name right after or before "vs", "and", "with", a comma ...
_SIDE_JOIN = r"(?:,|vs\.?|versus|and|or|with|to|from|against)"
_SIDE_AFTER = re.compile(rf"(?:^|\s|,){_SIDE_JOIN}\s+(?:the\s+)?([\w.+-]*[\w+])", re.IGNORECASE)
_SIDE_BEFORE = re.compile(rf"([\w.+-]*[\w+])(?:'s)?\s*{_SIDE_JOIN}(?=\s)", re.IGNORECASE)


def compared_missing(question: str, hits: Sequence[Hit], known: Callable[[str], bool]) -> list[str]:
    """The names a comparison sets beside a paper of the collection (a `named` hit) that
    `known` (the collection's paper names) lacks and no named paper's text (`hits`, whole
    abstracts) writes, as the question writes them: "How does CLIP differ from ALIGN?" is
    answered from CLIP's paper alone, which says nothing of ALIGN, and no paper here is
    ALIGN's. ELECTRA's abstract compares itself with RoBERTa: that side it answers. Names that
    are no side ("How does ELECTRA compare with BERT on GLUE?": GLUE) are left alone."""
    named = [h for h in hits if h.named]
    if not compares(question) or not named:
        return []
    written = (*_SIDE_AFTER.findall(question), *_SIDE_BEFORE.findall(question))
    sides = {normalise(w) for w in written}
    text = " ".join(_whole_text(h) for h in named)
    return [
        typed_name(n, question)
        for n in asked_names(question)
        if n in sides and not known(n) and not writes_name(n, text)
    ]


def called_missing(question: str, hits: Sequence[Hit]) -> str | None:
    """The name of "the X paper" when no retrieved paper is named by it nor has it in its
    title ("the Stable Diffusion 3 paper", answered from a paper adapting Stable Diffusion to
    3D; "the GPT-4 paper", from papers comparing with GPT-4): the collection lacks that
    paper. A name retrieved titles hold ("the Matryoshka paper") is left to the answer."""
    found = _CALLED.search(question)
    if not found or not hits or any(h.named for h in hits):
        return None
    name = found["name"]
    written = spelled(name, re.IGNORECASE)
    return None if any(written.search(h.title) for h in hits) else name


# A question ranking the collection's papers: "Which paper has the largest model?", "What is
# the best paper on CLIP?", "Which model is the fastest?". Retrieval finds papers close to it,
# not the one that wins: no abstract compares itself with all the others.
_SUPERLATIVE = (
    r"(?:largest|biggest|smallest|best|worst|fastest|slowest|highest|lowest|newest|latest"
    r"|oldest|earliest|most|least)"
)
_RANKS = re.compile(
    r"^\s*(?:which|what)\s+(?:paper|model|work|method|approach|dataset)s?\s+(?:has|have|is|are"
    r"|uses?|reports?|achieves?|gets?|trains?|reach(?:es)?|gives?)\s+the\s+"
    rf"{_SUPERLATIVE}\b(?!\s+common\b)"
    rf"|^\s*(?:what|which)\s+is\s+the\s+{_SUPERLATIVE}\s+(?:[\w-]+\s+)?(?:paper|model|work"
    r"|method)\b"
    # ... of any kind, for a purpose or alone: "What is the best optimizer for training
    # transformers?", "Which is the largest dataset?"
    rf"|^\s*(?:what|which)\s+(?:is|are)\s+the\s+{_SUPERLATIVE}\s+(?!common\b)[\w-]+"
    r"(?:\s+[\w-]+)?\s*(?:\?|$|\s+(?:for|to|in|on|of|at)\b)",
    re.IGNORECASE,
)


def ranks_papers(question: str) -> bool:
    """The question asks which of the collection's papers wins on something."""
    return bool(_RANKS.search(question))


def off_topic(hits: Sequence[Hit], settings: AnswerSettings, sentence: Callable[[], float]) -> bool:
    """True when the collection does not cover the question the hits were retrieved for.

    Off-topic questions still get hits that are close in embedding space (a question on
    quantum computing lands near papers on computing), so dense similarity alone separates
    them poorly. What they lack is vocabulary: no retrieved paper holds much of the question's
    distinctive terms. Paraphrased on-topic questions lack it too, but restate one sentence of
    their paper: so low coverage abstains only while the similarity to the question, the mean
    of the best chunk's and of the best sentence's (`sentence`, asked for only then: it embeds
    the sentences), is below `coverage_relevance`. A chunk's similarity alone is diluted by
    the rest of its window, so a question near a paper's field but about something else
    matches a chunk about as well as a paraphrase does; it matches no sentence as well.
    A question using a name ("What MMLU score does GPT-4 get?", "LEVI video editing") that no
    retrieved paper mentions abstains at any similarity: a paper on the topic is no answer
    about a method it never names. A similarity below `abstain_threshold` abstains on its own.
    Coverage is the best over the hits: one paper that covers the question is enough, if it is
    at least `coverage_min_relevance` similar ("thanks!" is not covered by an abstract's
    "Thanks to ..."). A question without distinctive terms has no coverage: only similarity
    answers it. A question that names a paper of the collection is covered by it.
    """
    if not hits:
        return True
    if any(h.named for h in hits):
        return False  # the question names a paper of the collection: that paper covers it
    best = _best_relevance(hits)
    if best is None:
        return False
    if best < settings.abstain_threshold:
        return True
    if all(h.lacks_names for h in hits):
        return True  # it asks about a "GPT-4" that no retrieved paper mentions
    cover = covering(hits, settings)
    if cover is not None and cover >= settings.coverage_threshold:
        return False
    return _similarity(best, sentence) < settings.coverage_relevance


def tentative(hits: Sequence[Hit], settings: AnswerSettings, sentence: Callable[[], float]) -> bool:
    """True when a question the collection answers (`off_topic` is False) is answered on weak
    evidence: no paper holds `sure_coverage` of its terms and the similarity (as `off_topic`
    reads it) is below `sure_relevance`. Near a paper's field but about something else ("Which
    paper uses graph neural networks for traffic forecasting?", answered from a time-series
    paper) and paraphrased questions both land there; the answer says it may not match
    rather than declining the paraphrases with them. A question naming a paper is sure of it.
    """
    if not hits or any(h.named for h in hits):
        return False
    cover = covering(hits, settings)
    if cover is not None and cover >= settings.sure_coverage:
        return False
    best = _best_relevance(hits)
    return best is not None and _similarity(best, sentence) < settings.sure_relevance


def _best_relevance(hits: Sequence[Hit]) -> float | None:
    """The closest retrieved paper's dense similarity; None when no hit was measured."""
    return max((h.relevance for h in hits if h.relevance is not None), default=None)


def _similarity(best: float, sentence: Callable[[], float]) -> float:
    """How close the question is to the collection, read as a paraphrase's closeness to its
    paper: the mean of the best chunk's and the closest sentence's similarity."""
    return (best + sentence()) / 2


def covering(hits: Sequence[Hit], settings: AnswerSettings) -> float | None:
    """The best coverage of the question's terms among the hits whose coverage counts, those
    at least `coverage_min_relevance` similar or holding every name the question uses
    (`Hit.holds_names`): a name is specific, and a question saying little else ("Which papers
    compare with ALBEF?", "papers on RAG") is far from every chunk in embedding space. None
    when no hit's coverage counts (or the question has no distinctive terms: "How many papers
    are there?")."""
    return max(
        (
            h.coverage
            for h in hits
            if h.coverage is not None
            and (h.holds_names or (h.relevance or 0.0) >= settings.coverage_min_relevance)
        ),
        default=None,
    )


def sentence_relevance(embedder: Embedder, question: str, hits: Sequence[Hit]) -> float:
    """Cosine of the question and the closest sentence of the lead papers' best chunks."""
    sentences = [
        s
        for hit in hits[:SENTENCE_PAPERS]
        for chunk in hit.chunks or (hit.text,)
        for s in split_sentences(chunk)
    ]
    if not sentences:
        return 0.0
    return float(np.max(embedder.embed(sentences) @ embedder.embed_query(question)))
