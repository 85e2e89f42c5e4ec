"""Messages that ask nothing of the papers (a greeting, thanks, help, the collection's size
or contents) are answered from the index's counts, not declined or answered from an abstract."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from paperchat.answering import Done, Retrieved
from paperchat.collection import CollectionStats, browse, title_phrases
from paperchat.conversation import assistant_content
from paperchat.pipeline import Pipeline
from paperchat.prompts import ABSTAIN_PHRASE
from paperchat.records import Turn
from paperchat.replies import MAX_FILE_CHARS, kind_of, reply


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("hi", "greeting"),
        ("Hello there!", "greeting"),
        ("thanks!", "thanks"),
        ("ok, thank you so much", "thanks"),
        ("What can you do?", "help"),
        ("help", "help"),
        ("ok", "ack"),
        ("Got it.", "ack"),
        ("How many papers are in the collection?", "size"),
        ("how many papers do you have", "size"),
        ("How many papers are indexed?", "size"),
        ("What topics does the collection cover?", "contents"),
        ("What is in the collection?", "contents"),
        ("What papers do you have?", "contents"),
        ("Summarize the collection", "contents"),
        ("Give me an overview of the collection.", "contents"),
        # Questions about papers go to retrieval.
        ("Hi, what is ELECTRA?", None),
        ("How many papers are about speech?", None),
        ("What is the best paper in the collection?", None),
        ("Does the collection have anything on time series forecasting?", None),
        ("Which paper?", None),  # a follow-up on the conversation's papers
        ("Summarize the ELECTRA paper", None),
        ("Thanks to what does ELECTRA learn faster?", None),
    ],
)
def test_what_a_message_asks_of_the_collection(message: str, kind: str | None) -> None:
    assert kind_of(message) == kind


def _stats(papers: int, files: dict[str, int], years: dict[str, int]) -> CollectionStats:
    return CollectionStats(papers, Counter(files), Counter(years))


def test_the_size_reply_counts_papers_files_and_years() -> None:
    stats = _stats(5, {"a.bib": 4, "b.txt": 1}, {"2019": 2, "2021": 1, "unknown": 2})
    assert reply("size", stats) == (
        "The collection holds 5 papers, from 2 files: a.bib (4) and b.txt (1). "
        "3 of them have a year, from 2019 to 2021."
    )
    one = _stats(1, {"c.jsonl": 1}, {"2020": 1})
    assert reply("size", one) == (
        "The collection holds 1 paper, from 1 file: c.jsonl (1). They date from 2020."
    )


def test_a_reply_names_a_few_bounded_file_names_and_counts_the_rest() -> None:
    files = {f"listing-{i}.txt": 10 - i for i in range(8)} | {"x" * 500: 1}
    text = reply("size", _stats(60, files, {}))
    assert "listing-0.txt (10), listing-1.txt (9)" in text
    assert "listing-5.txt" not in text and text.endswith("and 4 more.")
    long = reply("size", _stats(1, {"y" * 500: 1}, {}))
    assert "y" * MAX_FILE_CHARS not in long and "…" in long


def test_the_contents_reply_lists_the_title_phrases() -> None:
    stats = _stats(3, {"a.txt": 3}, {})
    text = reply("contents", stats, [("language models", 2), ("speech recognition", 1)])
    assert "language models (2), speech recognition (1)." in text
    assert text.startswith("The collection holds 3 papers") and "Ask about a topic" in text


def test_title_phrases_are_the_ones_most_titles_use(ingested: Pipeline) -> None:
    phrases = title_phrases(ingested.index, most=12)
    titles = [p.title.lower() for p in browse(ingested.index, limit=10_000)]

    def using(phrase: str) -> int:  # singular or plural last word, as the phrases count
        stem = re.escape(phrase.rstrip("s"))
        return sum(bool(re.search(rf"(?<![\w-]){stem}s?(?![\w-])", t)) for t in titles)

    assert phrases and [n for _, n in phrases] == sorted((n for _, n in phrases), reverse=True)
    for phrase, n in phrases:
        assert using(phrase) == n, phrase
    shown = dict(phrases)
    # "large language" is part of "large language models" in nearly all its titles.
    assert "large language models" in shown and "large language" not in shown
    assert "language models" in shown and "language model" not in shown  # one phrase


@pytest.mark.parametrize(
    ("message", "starts"),
    [
        ("hi", "Hello. I answer questions about the "),
        ("thanks!", "You're welcome."),
        ("How many papers are in the collection?", "The collection holds "),
        ("What topics does the collection cover?", "The collection holds "),
    ],
)
def test_the_answerer_replies_without_retrieval_or_a_decline(
    ingested: Pipeline, message: str, starts: str
) -> None:
    events = list(ingested.answerer("extractive").stream(message))
    assert isinstance(events[0], Retrieved) and events[0].hits == []
    answer = events[-1].answer if isinstance(events[-1], Done) else None
    assert answer is not None
    assert answer.text.startswith(starts) and not answer.text.startswith(ABSTAIN_PHRASE)
    assert not answer.abstained and answer.citations == []
    assert "".join(e.text for e in events[1:-1]) == answer.text  # streamed as it is whole
    papers = ingested.index.count_papers()
    if "collection" in message:
        assert f"holds {papers:,} papers" in answer.text


def test_a_first_message_with_nothing_to_search_for_asks_which_paper(ingested: Pipeline) -> None:
    answerer = ingested.answerer("extractive")
    for message in ("what is it?", "tell me more", "What is this paper about?"):
        answer = answerer.answer(message)
        assert answer.text.startswith("Which paper or topic do you mean?"), message
        assert not answer.abstained and answer.hits == []
    # In a conversation the same words are a follow-up on its paper.
    first = answerer.answer("What is ELECTRA?")
    history = [Turn("user", "What is ELECTRA?"), Turn("assistant", assistant_content(first))]
    more = answerer.answer("tell me more", history)
    assert [c.title for c in more.citations] == [c.title for c in first.citations]
