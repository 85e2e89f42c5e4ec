"""Paper names: the short names users call papers by, and the names a question mentions.

A paper's names come from its title: the part before a colon ("ELECTRA", "Align before
Fuse") with the name-like words and parenthesised acronyms in it ("Tiny Time Mixers (TTMs)"),
or the leading name-like word of a title without a colon ("LegalTurk Optimized BERT ...").
Words deeper in a title are not names: "DeBERTaV3: Improving DeBERTa using ELECTRA-Style
Pre-Training" is named "DeBERTaV3", so a question about ELECTRA matches ELECTRA's paper only.

Names are stored normalised (lower case, single spaces), and a question is matched by the
same normalisation of its words and word runs. A single plain word counts as a name in a
question only when written with a capital or a digit ("STAR", "Valley"), so "what kind of"
never names the paper KIND.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from paperchat.corpus import normalize_title

MAX_NAME_WORDS = 6  # longer title prefixes are sentences: nobody types them as a name
MIN_NAME_CHARS = 2
MIN_COINED_CHARS = 3  # "CL", "TL": the field's abbreviations, not a paper's name
MAX_COINED_CHARS = 40
MAX_COINED_NAMES = 2  # the method and its dataset or benchmark; further ones are its parts
MAX_APART_WORDS = 3  # a name typed as this many words at most ("mPLUG Doc Owl")
MIN_TYPO_CHARS = 6  # shorter names ("BERT", "ViLD") are a letter from other names
# An acronym a text writes out in words (`spells_out`): shorter ones are any run's initials.
MIN_SPELLED_LETTERS = 3
MAX_SPELLED_LETTERS = 6
_DIGIT_WORDS = {"2": "to", "4": "for"}  # "T2I", "V2A", "B4": the words they are said as
MIN_QUOTED_TITLE_WORDS = 4  # a title written out in a question names its paper (`quotes_title`)
_PREFIX_END = re.compile(r"\s*(?::|\s--?\s|\s[\u2013\u2014]\s)\s*")
_PARENTHESISED = re.compile(r"\(([^()\s]{2,20})\)")
_TOKEN = re.compile(r"[^\s,;:!?()\[\]{}\"\u201c\u201d]+")
_EDGE = "'\u2019.\"`*"
# A possessive "'s", or a verb made of a name: "OCR'd" text.
_POSSESSIVE = re.compile(r"['\u2019](?:s|d|ed)?$")
_PLAIN_SUFFIX = re.compile(r"-[a-z]+$")
_IN_PARENS = re.compile(r"\s*\([^()]*\)")
# A model's size or version written after its name: "ELECTRA-Small", "T5-XXL", "LLaMA-7B".
_MODEL_SIZE = re.compile(
    r"(?<=\w)-(?:small|base|large|tiny|mini|medium|huge|xl|xxl|\d+(?:\.\d+)?[bmk])$"
)
# Words an acronym may skip: "ADapt And Merge (ADAM)" keeps "And", others leave it out.
_SMALL_WORDS = frozenset(
    {"a", "an", "the", "of", "for", "and", "or", "with", "to", "in", "on", "via", "by", "at"}
)
MAX_ACRONYMS_READ = 8  # parenthesised words of an abstract tried as its prefix's acronym
_ACRONYM_AFTER = re.compile(r"\s*\(([^()\s,;]{2,24})\)")  # "... (ProX)" after its phrase
# TeX in titles (arXiv keeps it): "$\textbf{S}^2$IP-LLM" is called "S2IP-LLM",
# "$\mathcal{B}$-Coder" "B-Coder". Font commands go; other commands keep their word
# ("$\alpha$-CLIP": "alpha-CLIP").
_TEX_FONT = re.compile(
    r"\\(?:text|math)(?:bf|it|rm|sf|tt|cal|bb|frak|scr)?\b|\\(?:emph|bf|it|rm)\b"
)
_TEX_COMMAND = re.compile(r"\\([A-Za-z]+)\s*")
_TEX_MARKUP = re.compile(r"[$^_{}]")


def as_word(text: str, flags: int = 0) -> re.Pattern[str]:
    """`text` where it stands on its own: not inside a longer word or hyphenated name."""
    return re.compile(r"(?<![\w-])" + re.escape(text) + r"(?![\w-])", flags)


def spelled(name: str, flags: int = 0) -> re.Pattern[str]:
    """The words of `name` standing on their own, apart by spaces or hyphens ("Stable
    Diffusion 3", "Stable-Diffusion 3")."""
    parts = r"[\s-]+".join(map(re.escape, name.split()))
    return re.compile(r"(?<![\w-])" + parts + r"(?![\w-])", flags)


def normalise(name: str) -> str:
    """Lower case, accents folded, unicode dashes as '-', single spaces."""
    text = unicodedata.normalize("NFKC", name).replace("\u2013", "-").replace("\u2014", "-")
    return " ".join(text.casefold().split()).strip(_EDGE + " ")


def name_like(word: str) -> bool:
    """A word that reads as a name: a capital after its first letter, or a digit.

    "ELECTRA", "DeBERTaV3", "mT5", "Inverse-LLaVA" are; "Improving", "Zero-shot", "15M" are not.
    """
    if word.isalpha() and word[1:].islower():
        return False  # most words ("Improving", "models"): no capital after the first, no digit
    letters = sum(ch.isalpha() for ch in word)
    if letters < MIN_NAME_CHARS:
        return False
    # Per hyphenated part, so title case ("Coarse-to-Fine", "End-to-End") is no name.
    inner_capital = any(ch.isupper() for part in word.split("-") for ch in part[1:])
    return inner_capital or any(ch.isdigit() for ch in word)


def paper_names(title: str) -> list[str]:
    """The normalised names of a paper, most specific first; [] when the title has none."""
    return _variants([*_whole(title), *_inner(title)])


def inner_names(title: str) -> list[str]:
    """The normalised names inside a title's longer name of plain words and a name: "mt5" of
    "Medical mT5: ...", a name the paper builds on, not its own. A longer name opening with a
    name holds the paper's own ("JM3D & JM3D-LLM: ...", "ChineseWebText 2.0: ...")."""
    whole = _whole(title)
    if not whole or name_like(whole[0].split()[0]):
        return []
    return [normalise(name) for name in _inner(title)]


def indexed_names(title: str, abstract: str) -> list[str]:
    """What the index stores as a paper's names: its title's, those its abstract coins, and
    the acronyms it defines for what it proposes.

    A coined name ("ViLD") is not a whole name: like a word inside a title's prefix, it names
    the paper only where the collection rarely uses it (decided by retrieval).
    """
    defined = defined_names(abstract)
    coined = coined_names(abstract, title, defined=defined)
    return _variants([*_whole(title), *_inner(title), *coined, *defined])


def defined_names(abstract: str) -> list[str]:
    """The acronyms an abstract defines for what it proposes, where the phrase right after
    the naming verb spells them: "we propose Representation-Aligned Preference-based Learning
    (RAPL)", "we introduce a novel Gradient-RegulAted Meta-prompt learning (GRAM) framework"
    (its capitals), "... referred to as Visual-Dynamic Injection (VDI)". Users call the paper
    so, though its title names something else ("Maximizing Alignment with Minimal Feedback").
    Not what it works with: "propose to explore the potential of Contrastive Language-Image
    Pre-training (CLIP)", "propose Dynamic Rank-Selective Low Rank Adaptation (LoRA)"; only
    a few plain words ("a novel") may stand between the verb and the phrase.
    """
    found: dict[str, str] = {}
    for match in _ACRONYM_AFTER.finditer(abstract):
        name = match.group(1)
        if len(name) < MIN_COINED_CHARS or _plural_acronym(name) or not name_like(name):
            continue
        opening = match.start(1) - 1  # its "("
        before = _SPELLING_STOP.split(abstract[max(0, opening - 200) : opening])[-1]
        verbs = list(_DEFINING_VERB.finditer(before))
        between = before[verbs[-1].end() :].split() if verbs else []
        if between and _spelled_after_verb(name, between):
            found.setdefault(normalise(name), name)
    return list(found.values())[:MAX_COINED_NAMES]


def _spelled_after_verb(name: str, between: list[str]) -> bool:
    """Whether the words between a naming verb and an acronym end in a phrase spelling it, by
    its capitals ("ALign ... BEfore Fusing") or by its words' beginnings ("Align before
    Fuse"), after at most a few plain words that relate nothing ("a novel", not "... of")."""
    letters = re.sub(r"[^a-z0-9]", "", name.lower())
    for start, first in enumerate(between[: MAX_WORDS_BEFORE_PHRASE + 1]):
        if not first[:1].isupper():
            if first.lower() in _RELATION_WORDS:
                return False
            continue
        span = between[start:]
        capitals = "".join(ch for word in span for ch in word if ch.isupper() or ch.isdigit())
        return capitals.lower() == letters or abbreviates(name, " ".join(span))
    return False


def whole_names(title: str) -> list[str]:
    """The names that stand for the whole paper: its title's prefix, or its leading name.

    The other names (`paper_names` minus these) are words inside a longer prefix, such as
    "LLM" in "Aligned with LLM: ...": they name the paper only when the collection rarely
    uses the word otherwise (decided by retrieval, which knows the term statistics).
    """
    return _variants(_whole(title))


def distinctive_names(title: str) -> list[str]:
    """The whole names written like a name ("ELECTRA", "Align before Fuse" is not, "mT5" is).

    A whole name of plain words ("Pre-Trained Models: Past, Present and Future") is also an
    ordinary phrase of questions; it names the paper only when its words are rare.
    """
    found = _whole(title)
    return _variants(found) if any(name_like(w) for n in found for w in _words(n)) else []


def writes_title_name(question: str, title: str) -> bool:
    """The question writes the title's prefix with the title's own capitals, after its first
    word: "Compare HiTeA and All in One." names "All in One: ...", whose plain words alone
    ("all", "one") name nothing. Two capitalised words mid-sentence are a name, not a phrase."""
    prefix = _prefix(title)
    if prefix is None or len(prefix.split()) > MAX_NAME_WORDS:
        return False
    if sum(word[:1].isupper() for word in prefix.split()) < 2:
        return False
    found = re.search(rf"(?<![\w-]){re.escape(prefix)}(?![\w-])", question)
    return found is not None and bool(question[: found.start()].strip())


def _prefix(title: str) -> str | None:
    """The title's part before its colon (or dash); None when it has none."""
    parts = _PREFIX_END.split(title.strip(), maxsplit=1)
    return parts[0] if len(parts) == 2 and parts[0] else None


def _whole(title: str) -> list[str]:
    prefix = _prefix(title)
    if prefix is not None:
        return [prefix] if len(prefix.split()) <= MAX_NAME_WORDS else []
    first = next(iter(_words(title)), "")
    return [first] if name_like(first) else []


def _inner(title: str) -> list[str]:
    prefix = _prefix(title)
    if prefix is None:
        return []
    inner = [w for w in _words(prefix) if name_like(w) and len(prefix.split()) > 1]
    return [*inner, *_PARENTHESISED.findall(prefix)]


def _variants(found: list[str]) -> list[str]:
    found = [*found, *(_without_tex(n) for n in found if "$" in n or "\\" in n)]
    without_parens = [_IN_PARENS.sub("", n) for n in found]
    names = [normalise(n) for n in [*found, *without_parens]]
    names += [n.replace("-", " ") for n in names if "-" in n]
    return [n for n in dict.fromkeys(names) if len(n) >= MIN_NAME_CHARS]


def _without_tex(name: str) -> str:
    """The name as typed without TeX: "$\\textbf{S}^2$IP-LLM" -> "S2IP-LLM"."""
    return _TEX_MARKUP.sub("", _TEX_COMMAND.sub(r"\1", _TEX_FONT.sub("", name)))


# A name the abstract gives its idea: "we propose ViLD, ...", "we introduce Programming Every
# Example (ProX)", "This yields WebPerson, ...". Up to six plain words may stand between the
# verb and the name ("a novel method ZSCL").
# "called", not "call": "API call and API usage" names nothing.
_NAMING_VERB = (
    r"(?:(?:propos|introduc|present|develop|establish|buil|releas|construct|curat|yield|explor)\w*"
    r"|called|named|termed|dubbed|coined|namely|refer(?:red)?\s+to\s+[^.]{0,60}?\s+as)"
)
# After "on", "for", "with" ... comes what the idea is applied to ("results on COCO"), not it.
_RELATION_WORDS = frozenset(
    {"on", "in", "for", "with", "to", "of", "from", "by", "using", "via", "at", "than", "over"}
    | {"into", "across", "as"}
)
_RELATION = r"(?:" + "|".join(sorted(_RELATION_WORDS)) + ")"
# ... and a name stands alone ("ViLD, a method", "ZSCL to prevent ..."): in "a straightforward
# MLP diffusion network" the acronym only describes the network.
_AFTER_NAME = (
    r"to|that|which|for|with|using|as|on|in|by|and|or|is|are|was|were|can|from|via|achieves"
    r"|outperforms|consists|uses|leverages|learns|enables|based|built|trained|contain\w*|\("
    # ... or is followed by what it is: "a novel Text4Point framework".
    r"|framework|model|models|method|approach|dataset|benchmark|pipeline|system|architecture"
    r"|algorithm|corpus|toolkit|family|series|suite|paradigm"
)
_COINED_AFTER_VERB = re.compile(
    r"\b" + _NAMING_VERB + r"\s+(?:(?:a|an|the)\s+)?"
    r"(?:(?!" + _RELATION + r"\b)[a-z][\w-]*,?\s+){0,6}?"
    r"\(?((?=[\w-]*[A-Z])[A-Za-z0-9][\w-]*\w)(?=[,.;:)]|\s+(?:" + _AFTER_NAME + r")\b|\s*$)",
)
# Where a capitalised word given as a name ends: a clause goes on ("Zecoler, a ...", "Mod-X:
# ...", "Self-Lengthen that ..."), not a phrase it starts ("Learning from the Void").
_COINAGE_END = re.compile(r"\s*[,:;.)]|\s+(?:that|which)\b")
# ... or an acronym defined for a capitalised phrase: "Programming Every Example (ProX)", not
# the field's "natural language processing (NLP)".
_COINED_IN_PARENS = re.compile(
    r"\b" + _NAMING_VERB + r"\b[^.]{0,160}?\b[A-Z][\w-]*\s+\(([^()\s,;]{2,24})\)"
)
# ... and an acronym defined right after a naming verb (`defined_names`): verbs only, not
# "development of ..." or "exploration of ...".
_DEFINING_VERB = re.compile(
    r"\b(?:(?:propos|introduc|releas|curat)(?:e|es|ed)|(?:present|develop|construct)(?:s|ed)?"
    r"|builds?|called|named|termed|dubbed|coined|namely|refer(?:red)?\s+to\s+as)\b"
)
# Where the words that may spell an acronym stop: a sentence's end, or other parentheses.
_SPELLING_STOP = re.compile(r"[.!?;]\s+|[()]")
# A title's prefix of this many words is a slogan ("Educating LLMs like Human Students: ..."),
# not a name: "Stable Diffusion 3" and "Align before Fuse" are three.
MIN_SLOGAN_WORDS = 4
MAX_WORDS_BEFORE_PHRASE = 3  # plain words between the verb and its phrase: "a novel", "a"


def text_names(text: str) -> frozenset[str]:
    """The normalised words of a text, to tell a paper's coinage from a shared term."""
    return frozenset(normalise(w) for w in _words(text))


def asked_names(question: str) -> list[str]:
    """The normalised name-like words of a question: "gpt-4", "mmlu", and "clip" of
    "CLIP-like" (a plain-word suffix describes the name, it is not part of it). Not
    quantities ("175B-parameter", "4K", "3D"): a name starts with a letter."""
    found = []
    for word in _words(question):
        if not name_like(word) or not word[:1].isalpha():
            continue
        stem = _PLAIN_SUFFIX.sub("", word)
        found.append(normalise(stem if name_like(stem) else word))
    return list(dict.fromkeys(found))


def holds_name(name: str, held: frozenset[str], own: Iterable[str] = ()) -> bool:
    """`name` (from `asked_names`) is among a text's words (`text_names`), alone, in the
    plural or singular ("LLM" of "LLMs", "CNNs" of "CNN") or as the head of a compound ("CLIP"
    of "CLIP-based"); or the paper's `own` names are built on it: xRAG speaks of RAG even where
    its abstract writes "retrieval-augmented generation"."""
    if {name, name + "s", _singular(name)} & held or any(w.startswith(name + "-") for w in held):
        return True
    return len(name) >= MIN_COINED_CHARS and any(
        n != name and (n.startswith(name) or n.endswith(name)) for n in own
    )


def mentions(name: str, text: str, held: frozenset[str], own: Iterable[str] = ()) -> bool:
    """The text mentions `name` (from `asked_names`): among its names `held` (`text_names`,
    read as `holds_name` does, with the paper's `own` names), spelled out ("retrieval-augmented
    generation" for RAG) or in the code it releases (CLIP's abstract: only ".../OpenAI/CLIP")."""
    return holds_name(name, held, own) or spells_out(name, text) or releases(name, text)


def typed_name(name: str, text: str) -> str:
    """The (normalised) name as the text writes it: "BERT" for "bert"; the name if it does not."""
    return next((w for w in re.findall(r"[\w.+-]*[\w+]", text) if normalise(w) == name), name)


def writes_name(name: str, text: str) -> bool:
    """The text writes `name` (from `asked_names`) as a name, as `holds_name` reads it:
    "Llama-3" and "CLIP-based" write LLaMA and CLIP; "video clips" does not."""
    return holds_name(name, frozenset(normalise(w) for w in _words(text) if name_like(w)))


def coined_name(abstract: str, title: str, elsewhere: frozenset[str] = frozenset()) -> str | None:
    """The name an abstract coins for its paper's idea, when its title holds no name.

    "Open-vocabulary Object Detection via Vision and Language Knowledge Distillation" is
    known as ViLD, a name only its abstract gives. The abstract's first coinage counts.
    Words in `elsewhere` (other papers' words: "OCR", "MoE") are the field's, not a coinage.
    """
    return next(iter(coined_names(abstract, title, elsewhere)), None)


def coined_names(
    abstract: str,
    title: str,
    elsewhere: frozenset[str] = frozenset(),
    *,
    defined: list[str] | None = None,
) -> list[str]:
    """Every name the abstract coins, in order ("WebPerson" its dataset, "GA-DMS" its method).

    Of "ADapt And Merge (ADAM)" the acronym; plurals of acronyms ("LLMs") are no coinage, nor
    is any name when the title holds one. `defined`: the abstract's `defined_names`, when the
    caller has them already.
    """
    whole = whole_names(title)
    # "Educating LLMs like Human Students: ..." is a slogan, not what users call the paper:
    # the name its abstract gives ("termed StructTuning") is.
    slogan = bool(whole) and len(whole[0].split()) >= MIN_SLOGAN_WORDS
    if distinctive_names(title) and not slogan:
        return []  # "CLIM: ..." is called so: an acronym in its abstract names a part
    if whole:
        acronym = _prefix_acronym(whole[0], abstract)
        if acronym or not slogan:
            return acronym
    defined = defined_names(abstract) if defined is None else defined
    if whole and defined:
        return []  # a slogan's paper named already
    in_title = {normalise(w) for w in _words(title)}
    in_parens = list(_COINED_IN_PARENS.finditer(abstract))
    # "We propose ADapt And Merge (ADAM)": the acronym, not the phrase's first word; but
    # "termed StructTuning, to transform ... Large Language Models (LLMs)" coins the name.
    acronyms = [d for d in in_parens if not _plural_acronym(d.group(1))]
    named = [
        m
        for m in _COINED_AFTER_VERB.finditer(abstract)
        if not any(d.start() <= m.start(1) < d.start(1) for d in acronyms)
    ]
    found: dict[str, str] = {}
    for match in sorted([*in_parens, *named], key=lambda m: m.start(1)):
        name = match.group(1)
        key = normalise(name)
        shared = key in in_title or key in elsewhere
        fits = MIN_COINED_CHARS <= len(name) <= MAX_COINED_CHARS
        named_so = name_like(name) or _capitalised_coinage(match, abstract)
        if fits and named_so and not _plural_acronym(name) and not shared:
            found.setdefault(key, name)
    # "a novel High-resolution and Diversified VIdeo-LAnguage pre-training model (HD-VILA)"
    for name in defined:
        key = normalise(name)
        if key not in in_title and key not in elsewhere:
            found.setdefault(key, name)
    if not found and (name := released_name(abstract)) and normalise(name) not in elsewhere:
        found[normalise(name)] = name  # "We release our code ... at github.com/OpenAI/CLIP"
    return list(found.values())[:MAX_COINED_NAMES]


def _prefix_acronym(prefix: str, abstract: str) -> list[str]:
    """The acronym the abstract gives a title's prefix of plain words. Such a prefix
    ("Language-Codec: ...") is the paper's name, and its parts ("MCRVQ") are not; unless the
    abstract gives it an acronym: "Programming Every Example (ProX)"."""
    spelled = _spelled_acronym(prefix, normalise(abstract))
    if spelled is None:
        # "ALign the image and text representations BEfore Fusing (ALBEF)": the acronym is
        # given where the prefix is not written out, but it abbreviates the prefix.
        return [
            name
            for name in _PARENTHESISED.findall(abstract)[:MAX_ACRONYMS_READ]
            if len(name) >= MIN_COINED_CHARS and name_like(name) and abbreviates(name, prefix)
        ][:1]
    original = re.search(r"\((" + re.escape(spelled) + r")\)", abstract, re.I)
    name = original.group(1) if original else spelled
    return [name] if name_like(name) else []


# A code repository's address; what the paper releases there is its own ("We release our code
# and pre-trained model weights at https://github.com/OpenAI/CLIP").
_REPOSITORY = re.compile(r"github\.com/[\w.-]+/([\w.-]+?)(?=[.,;)]?(?:\s|$|[)}\]]))")
_RELEASING = re.compile(
    r"\b(?:our|release[sd]?|available|open-sourced?|code|codes|implementation)\b", re.IGNORECASE
)
RELEASE_WORDS_CHARS = 100  # how far before the address the words saying it is the paper's may be


def released_name(abstract: str) -> str | None:
    """The name of the code a paper says it releases, when that reads as a name: "CLIP" of
    "We release our code ... at https://github.com/OpenAI/CLIP", the one place the CLIP paper's
    abstract names it. Not a repository of many words ("Awesome-CV-Foundational-Models",
    "Public_Clinical_Prompt") nor a plain word ("summaries")."""
    for found in _REPOSITORY.finditer(abstract):
        name = found.group(1)
        if not _said_released(abstract, found):
            continue
        if "_" in name or name.count("-") > 1 or not name_like(name):
            return None
        return name if MIN_COINED_CHARS <= len(name) <= MAX_COINED_CHARS else None
    return None


def releases(name: str, text: str) -> bool:
    """`text` says the paper releases code under `name` (normalised): its own name."""
    found = (m for m in _REPOSITORY.finditer(text) if normalise(m.group(1)) == name)
    return any(_said_released(text, m) for m in found)


def _said_released(text: str, address: re.Match[str]) -> bool:
    """The sentence before the address says the paper releases it ("our code", "available")."""
    before = text[max(0, address.start() - RELEASE_WORDS_CHARS) : address.start()]
    return bool(_RELEASING.search(re.split(r"[.!?]\s", before)[-1]))


def _capitalised_coinage(match: re.Match[str], abstract: str) -> bool:
    """A capitalised word a naming verb gives as a name standing alone: "we propose Zecoler,
    a zero-shot approach", "we introduce Fusioner, with ...", "framework called Self-Lengthen
    that ...". Not the first word of a capitalised phrase ("we propose Learning from the Void
    (LfVoid)", "a new pretext task, Turning to Video ..."), nor a word the abstract also writes
    in lower case: there it is a word."""
    name = match.group(1)
    if not (name[:1].isupper() and _COINAGE_END.match(abstract, match.end(1))):
        return False
    # A plain word right after the verb ("we propose Zecoler"), not after words describing
    # it ("namely all-in-one Transformer"); one with parts may follow them ("... framework
    # Mod-X: ...").
    if name.isalpha() and len(abstract[match.start() : match.start(1)].split()) > 1:
        return False
    return as_word(name.lower()).search(abstract) is None


def spells_out(name: str, text: str) -> bool:
    """`name` (from `asked_names`) is an acronym whose words `text` writes out, a word's first
    letter each: "CNNs" of "Convolutional Neural Networks", "MLLM" of "Multimodal Large
    Language Models" (a hyphenated word gives one letter or one for each part: "VLM" of
    "Vision-Language Models"), "T2I" of "text-to-image" (a "2" is "to", a "4" "for").
    Acronyms of MIN_SPELLED_LETTERS to MAX_SPELLED_LETTERS letters only, and runs without
    other small words: shorter ones are the first letters of too many runs."""
    spoken = [_DIGIT_WORDS.get(ch, ch) for ch in _singular(name)]
    letters = "".join(part[0] for part in spoken)
    if not letters.isalpha() or not MIN_SPELLED_LETTERS <= len(letters) <= MAX_SPELLED_LETTERS:
        return False
    text = normalise(text)
    for split in (r"[^\w-]+", r"[^\w]+"):  # a hyphenated word as one word, then as its parts
        words = [w for w in re.split(split, text) if w]
        initials = "".join(w[0] for w in words)
        start = initials.find(letters)
        while start >= 0:
            run = words[start : start + len(letters)]
            if all(w == said or w not in _SMALL_WORDS for w, said in zip(run, spoken, strict=True)):
                return True
            start = initials.find(letters, start + 1)
    return False


def _singular(name: str) -> str:
    """ "cnns" -> "cnn"; a name of three letters or fewer keeps its "s" ("mos")."""
    return name[:-1] if name.endswith("s") and len(name) > MIN_SPELLED_LETTERS else name


def _plural_acronym(name: str) -> bool:
    """ "LLMs", "PTMs": the field's things, no coinage."""
    return name.endswith("s") and name[-2:-1].isupper()


def abbreviates(acronym: str, phrase: str) -> bool:
    """Whether `acronym` is made of the beginnings of `phrase`'s words, in order: "ALBEF" of
    "Align before Fuse" (al-be-f). Every word gives at least its first letter, except the
    small words ("of", "and", ...), which may give none."""
    letters = re.sub(r"[^a-z0-9]", "", acronym.lower())
    words = (re.sub(r"[^a-z0-9]", "", w) for w in re.split(r"[\s-]+", phrase.lower()))
    parts = [w for w in words if w]

    def match(at: int, word: int) -> bool:
        if word == len(parts):
            return at == len(letters)
        part = parts[word]
        least = 0 if part in _SMALL_WORDS else 1
        return any(
            letters[at : at + n] == part[:n] and match(at + n, word + 1)
            for n in range(least, min(len(part), len(letters) - at) + 1)
        )

    return bool(letters) and bool(parts) and match(0, 0)


def _spelled_acronym(name: str, text: str) -> str | None:
    """The acronym `text` gives `name` right after it ("programming every example (prox)"),
    at the first place it does; None when it never does.

    What `re.search(re.escape(name) + _ACRONYM_AFTER.pattern, text)` finds, without
    compiling an expression per title (two thirds of the time `indexed_names` took).
    """
    start = text.find(name)
    while start >= 0:
        if acronym := _ACRONYM_AFTER.match(text, start + len(name)):
            return acronym.group(1)
        start = text.find(name, start + 1)
    return None


def question_names(question: str, max_words: int = MAX_NAME_WORDS) -> list[str]:
    """Every normalised word run of the question that could be a paper's name."""
    words = [_bare(w) for w in _TOKEN.findall(question)]
    words = [w for w in words if w]
    found: list[str] = []
    for i, word in enumerate(words):
        if _single_word_name(word):
            found.append(normalise(word))
        for n in range(2, max_words + 1):
            if i + n <= len(words):
                run = words[i : i + n]
                found.append(normalise(" ".join(run)))
                if n <= MAX_APART_WORDS and any(_single_word_name(w) for w in run):
                    # "GraphCode BERT", "Deberta v3": GraphCodeBERT and DeBERTaV3 typed apart.
                    found.append(normalise("".join(run)))
    hyphenated = [n for n in found if "-" in n]
    # "DeBERTa-V3" for DeBERTaV3, and "ELECTRA-Small" (a size of the model) for ELECTRA.
    found += [n.replace("-", " ") for n in hyphenated] + [n.replace("-", "") for n in hyphenated]
    found += [_MODEL_SIZE.sub("", n) for n in hyphenated if _MODEL_SIZE.search(n)]
    return list(dict.fromkeys(n for n in found if len(n) >= MIN_NAME_CHARS))


def recased(name: str, question: str, text: str) -> bool:
    """The question writes the one-word `name` only as a capitalised word ("Adam", the
    optimizer) where the paper's text writes it only in capitals ("ADAM", an acronym its
    abstract coins): two things that share letters, not one name."""
    if " " in name or not name.isalpha():
        return False
    form = as_word(name, re.IGNORECASE)
    asked = {m.group() for m in form.finditer(question)}
    written = {m.group() for m in form.finditer(text)}
    capitalised = all(w[:1].isupper() and w[1:].islower() for w in asked)
    return bool(asked and written) and capitalised and all(w.isupper() for w in written)


def misspells(asked: str, name: str) -> bool:
    """`asked` is `name` (both normalised) with one letter dropped, added, changed or two
    letters swapped: "electa", "grapcodebert", "selformmer". Names of MIN_TYPO_CHARS letters
    or more only, and never a digit: "LLaMA-2" is no typo of "LLaMA-3"."""
    if asked == name or min(len(asked), len(name)) < MIN_TYPO_CHARS:
        return False
    if abs(len(asked) - len(name)) > 1 or asked[0] != name[0]:
        return False
    if any(ch.isdigit() for ch in set(asked) ^ set(name)):
        return False
    if len(asked) == len(name):
        apart = [i for i, (a, b) in enumerate(zip(asked, name, strict=True)) if a != b]
        swapped = len(apart) == 2 and apart[1] == apart[0] + 1
        swapped = (
            swapped and asked[apart[0]] == name[apart[1]] and asked[apart[1]] == name[apart[0]]
        )
        return (len(apart) == 1 and asked[apart[0]].isalpha()) or swapped
    short, long_ = sorted((asked, name), key=len)
    i = next((i for i, (a, b) in enumerate(zip(short, long_, strict=False)) if a != b), len(short))
    return long_[i].isalpha() and short[i:] == long_[i + 1 :]


# A lower-case word, hyphenated too ("chimed-gpt", "e-vilm", "cv-vae").
_PLAIN_WORD = re.compile(r"[a-z]+(?:-[a-z0-9]+)*")


def plain_words(question: str) -> list[str]:
    """The question's plain lower-case words ("electra", "chimed-gpt" typed without their
    capitals), which `question_names` leaves out: such a word names a paper only when the
    collection never writes it in lower case (the retriever checks)."""
    found = (w for w in _words(question) if _PLAIN_WORD.fullmatch(w) and len(w) >= 3)
    return list(dict.fromkeys(found))


# A question that is nothing but one-word sides compared: "ovis vs points", "compare kite
# and tera", "bert, gpt or t5?".
_BARE_SIDES = re.compile(
    r"^\s*(?:compare\s+)?[\w.+-]+(?:\s*(?:,|\bvs\b\.?|\bversus\b|\band\b|\bor\b|&)\s*[\w.+-]+)+"
    r"\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_SIDE_WORDS = frozenset({"compare", "vs", "versus", "and", "or"})


def compared_words(question: str) -> list[str]:
    """The sides of a question that only sets single words side by side, normalised: each is
    a name as the user types it, even a word of the language ("points" for POINTS); [] for
    any other question."""
    if not _BARE_SIDES.match(question):
        return []
    return [normalise(w) for w in _words(question) if w.casefold() not in _SIDE_WORDS]


def _words(text: str) -> list[str]:
    return [w for w in (_bare(t) for t in _TOKEN.findall(text)) if w]


def _bare(token: str) -> str:
    """A word without surrounding quotes/periods and without a possessive "'s"."""
    return _POSSESSIVE.sub("", token.strip(_EDGE)).strip(_EDGE)


def _single_word_name(word: str) -> bool:
    # A lower-case plain word is an ordinary word in a question, whatever a title calls itself.
    return name_like(word) or any(ch.isupper() or ch.isdigit() for ch in word)


def quotes_title(question: str, title: str) -> bool:
    """The question writes out the paper's title, or the part before its colon, as a user
    naming a paper that has no short name does ("How is HoVLE different from Unveiling
    Encoder-Free Vision-Language Models?"). Case and punctuation do not count; a title part
    of fewer than MIN_QUOTED_TITLE_WORDS words is a phrase a question may use by chance."""
    asked = f" {normalize_title(question)} "
    for part in dict.fromkeys((title, title.split(":")[0])):
        written = normalize_title(part)
        if len(written.split()) >= MIN_QUOTED_TITLE_WORDS and f" {written} " in asked:
            return True
    return False


# "the Banzhaf paper", "the game players paper": up to four words between "the" and "paper".
_CALLED_BY_WORDS = re.compile(
    r"\bthe\s+(?P<words>(?:(?!the\b)[\w-]+\s+){0,3}?(?!the\b)[\w-]+)\s+(?:paper|article|work)\b",
    re.IGNORECASE,
)
# Words that say which paper of a conversation or list is meant, not what its title holds.
_POINTING_WORDS = (
    "first second third last previous above same original other latter former cited "
    "following next earlier this that new whole one two both proposed present current given "
    "mentioned aforementioned related prior said entire main key recent latest best"
)
_POINTING = frozenset(_POINTING_WORDS.split())


def title_called(question: str, titles: Sequence[str]) -> tuple[int, int] | None:
    """(which of `titles`, where in the question) for a paper called by words of its title
    ("Compare GLSCL and the Banzhaf paper": "Video-Text as Game Players: Hierarchical Banzhaf
    Interaction ..."), when exactly one title holds them. Names are matched by the stored
    names (`question_names`); these are plain words only, and not ones pointing at a paper
    ("the first paper")."""
    for found in _CALLED_BY_WORDS.finditer(question):
        called = found["words"].split()
        if any(name_like(w) or w.casefold() in _POINTING for w in called):
            continue
        phrase = f" {normalize_title(found['words'])} "
        holding = [i for i, t in enumerate(titles) if phrase in f" {normalize_title(t)} "]
        if len(holding) == 1:
            return holding[0], found.start("words")
    return None


def mentioned_apart(question: str, name: str, longer: Iterable[str]) -> bool:
    """The question writes `name` somewhere other than inside one of the `longer` names it
    writes: "What is ChineseWebText 2.0?" mentions ChineseWebText 2.0 only, "Compare
    ChineseWebText and ChineseWebText 2.0" both."""
    text = normalise(question)
    for other in sorted(longer, key=len, reverse=True):
        text = spelled(other).sub(" ", text)
    # A hyphen may join it to a word: "ELECTRA-Small" mentions ELECTRA.
    return bool(re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text))


def first_mention(question: str, names: Iterable[str]) -> int:
    """Where the question first uses one of a paper's (normalised) names, as a whole word;
    past its end when it uses none. Papers named side by side are answered in this order."""
    text = normalise(question)
    # "DeBERTa-V3" is a mention of DeBERTaV3: a hyphen or space may stand between letters.
    spelled = ("[- ]?".join(map(re.escape, n)) for n in names if n)
    found = (re.search(rf"(?<!\w){pattern}(?!\w)", text) for pattern in spelled)
    return min((m.start() for m in found if m), default=len(text))
