"""Messages that ask nothing of the papers: a greeting, thanks, a request for help, or a
question about the collection itself ("How many papers are in the collection?").

Retrieval would answer them from whichever abstract happens to say "Thanks to ..." or "how
many", or decline them as off-topic. They are answered from the index's own counts instead,
before any retrieval, the same way for the extractive answer and every model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from paperchat.collection import TITLES_READ, CollectionStats
from paperchat.embedding import words
from paperchat.extractive import join_words

_END = r"[\s!?.,:;)(]*$"
_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|howdy|greetings|good\s+(?:morning|afternoon|evening|day))"
    r"(?:\s+(?:there|all|everyone))?" + _END,
    re.IGNORECASE,
)
_THANKS = re.compile(
    r"^(?:(?:ok(?:ay)?|great|perfect|nice|cool)[\s,!.]+)?"
    r"(?:thanks?|thank\s+you|thx|ty|cheers|much\s+appreciated)"
    r"(?:\s+(?:a\s+lot|so\s+much|very\s+much|again))?" + _END,
    re.IGNORECASE,
)
# A reply that acknowledges: "ok", "got it", "yes".
_ACK = re.compile(
    r"^(?:ok(?:ay)?|k|yes|yep|yeah|no|nope|sure|cool|nice|great|got\s+it|i\s+see|alright|right)"
    + _END,
    re.IGNORECASE,
)
_HELP = re.compile(
    r"^(?:help|usage|what\s+(?:can|do)\s+you\s+do|who\s+are\s+you|what\s+are\s+you"
    r"|how\s+do(?:es)?\s+(?:this|it|you)\s+work|what\s+(?:can|should)\s+i\s+ask(?:\s+you)?"
    r"|how\s+do\s+i\s+use\s+(?:this|you|it))" + _END,
    re.IGNORECASE,
)
_HOW_MANY = re.compile(r"^\s*how\s+many\b", re.IGNORECASE)
# Saying it is the collection asked about: "Which paper?" alone is a follow-up on the papers
# of the conversation, "Which papers do you have?" a question about the collection.
_OF_COLLECTION = re.compile(
    r"\b(?:collection|corpus|library|database|index(?:ed)?|in\s+total|altogether"
    r"|you\s+(?:have|hold|know|store|cover|contain))\b",
    re.IGNORECASE,
)
# The words of a question about the collection as a whole, stemmed as `words` stems them:
# "What papers do you have?", "What topics does the collection cover?", "How many papers
# are indexed?". A question with any other content word asks about papers on something.
_COLLECTION_WORDS = frozenset(
    words(
        "paper papers collection corpus library database index indexed document documents "
        "article articles abstract abstracts record records entry entries many number total "
        "topic topics subject subjects field fields area areas cover covers contain contains "
        "hold holds store stores kind kinds sort type types list show overview summary "
        "summarize summarise describe give tell content contents"
    )
)
# What every reply that asks for a question says.
_HOW_TO_ASK = (
    'Ask about a paper by its name, about a topic ("Which papers ...?"), or ask to compare papers.'
)
_ASK_AGAIN = "Ask another question about the papers whenever you like."
MAX_FILES_NAMED = 5  # source files named in a reply; more are counted
MAX_FILE_CHARS = 80  # a file name is untrusted input: one bounded name


def kind_of(question: str) -> str | None:
    """ "greeting", "thanks", "help", "ack", "size" or "contents" for a message that asks
    nothing of the papers; None for a question retrieval answers. ("vague", a first message
    without a word to search for, is the answerer's to tell: it knows the conversation.)"""
    text = question.strip()
    if _GREETING.match(text):
        return "greeting"
    if _THANKS.match(text):
        return "thanks"
    if _HELP.match(text):
        return "help"
    if _ACK.match(text):
        return "ack"
    asked = set(words(text))
    if not asked <= _COLLECTION_WORDS or not _OF_COLLECTION.search(text):
        return None
    return "size" if _HOW_MANY.match(text) else "contents"


def reply(kind: str, stats: CollectionStats, phrases: Sequence[tuple[str, int]] = ()) -> str:
    """The reply to a message `kind_of` recognised, from the collection's counts and, asked
    what it holds, the phrases its titles use most (`collection.title_phrases`)."""
    if kind == "thanks":
        return f"You're welcome. {_ASK_AGAIN}"
    if kind == "ack":
        return _ASK_AGAIN
    if kind == "vague":
        return f"Which paper or topic do you mean? {_HOW_TO_ASK}"
    if kind in ("greeting", "help"):
        hello = "Hello. " if kind == "greeting" else ""
        return (
            f"{hello}I answer questions about the {_papers(stats.papers)} in this collection "
            f"and cite the papers each answer quotes. {_HOW_TO_ASK}"
        )
    size = f"The collection holds {_papers(stats.papers)}{_from_files(stats)}.{_years(stats)}"
    if kind == "size":
        return size
    topics = ""
    if phrases:
        listed = ", ".join(f"{_bounded(p)} ({n:,})" for p, n in phrases)
        read = f" (of the first {TITLES_READ:,})" if stats.papers > TITLES_READ else ""
        topics = f" The phrases its titles use most{read}, with their number of titles: {listed}."
    return f"{size}{topics} Ask about a topic, a method or a paper's name to find the papers on it."


def _papers(n: int) -> str:
    return f"{n:,} paper" + ("" if n == 1 else "s")


def _from_files(stats: CollectionStats) -> str:
    files = stats.per_source.most_common()
    if not files:
        return ""
    named = [f"{_bounded(name)} ({n:,})" for name, n in files[:MAX_FILES_NAMED]]
    if len(files) > MAX_FILES_NAMED:
        named.append(f"{len(files) - MAX_FILES_NAMED:,} more")
    return f", from {len(files):,} file{'s' if len(files) > 1 else ''}: {join_words(named)}"


def _years(stats: CollectionStats) -> str:
    years = sorted(int(y) for y in stats.per_year if y.isdigit())
    if not years:
        return ""
    dated = sum(n for y, n in stats.per_year.items() if y.isdigit())
    span = str(years[0]) if years[0] == years[-1] else f"{years[0]} to {years[-1]}"
    if dated == stats.papers:
        return f" They date from {span}."
    return f" {dated:,} of them have a year, from {span}."


def _bounded(name: str) -> str:
    flat = " ".join(name.split())
    return flat if len(flat) <= MAX_FILE_CHARS else flat[: MAX_FILE_CHARS - 1] + "…"
