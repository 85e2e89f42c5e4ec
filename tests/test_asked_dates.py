"""Years in a question asking for papers ("Which papers from 2024 study RAG?") become a date
filter, as --since/--until would; a year in a question about content stays part of it."""

from __future__ import annotations

import pytest

from paperchat.answering import AnswerOptions, Retrieved
from paperchat.asked_dates import asked_dates
from paperchat.index import Filters
from paperchat.pipeline import Pipeline
from paperchat.prompts import ABSTAIN_PHRASE


@pytest.mark.parametrize(
    ("question", "rest", "since", "until", "span"),
    [
        ("Which papers from 2024 study RAG?", "Which papers study RAG?", "2024", "2024", "2024"),
        ("papers on speech since 2023", "papers on speech", "2023", None, "from 2023 on"),
        ("Papers on RAG after 2022", "Papers on RAG", "2023", None, "from 2023 on"),
        ("work on CLIP before 2022", "work on CLIP", None, "2021", "up to 2021"),
        (
            "Which papers between 2020 and 2022 use CLIP?",
            "Which papers use CLIP?",
            "2020",
            "2022",
            "2020 to 2022",
        ),
        (
            "Which papers came out in 2024 about retrieval-augmented generation?",
            "Which papers about retrieval-augmented generation?",
            "2024",
            "2024",
            "2024",
        ),
        ("2023 papers on diffusion", "papers on diffusion", "2023", "2023", "2023"),
        # "on" after the year is a topic's, unless it ends the phrase.
        (
            "Is there a paper from 2019 on BERT compression?",
            "Is there a paper on BERT compression?",
            "2019",
            "2019",
            "2019",
        ),
        ("papers on speech from 2021 on", "papers on speech", "2021", None, "from 2021 on"),
    ],
)
def test_the_years_a_question_for_papers_keeps_to(
    question: str, rest: str, since: str | None, until: str | None, span: str
) -> None:
    found = asked_dates(question)
    assert found is not None
    assert (found.question, found.since, found.until, found.span) == (rest, since, until, span)


@pytest.mark.parametrize(
    "question",
    ["What did ELECTRA reach in 2020?", "Which papers study RAG?", "How was GPT-2 trained?"],
)
def test_a_year_in_a_question_about_content_is_no_filter(question: str) -> None:
    assert asked_dates(question) is None


def test_the_years_join_the_filters_the_request_has() -> None:
    found = asked_dates("papers on speech since 2023")
    assert found is not None
    joined = found.filters(Filters(sources=("a.bib",)))
    assert (joined.sources, joined.date_from, joined.date_to) == (("a.bib",), "2023-01-01", None)


def test_an_answer_keeps_to_the_years_the_question_names(ingested: Pipeline) -> None:
    answerer = ingested.answerer("extractive")
    events = list(answerer.stream("Which papers from 2024 study vision-language pre-training?"))
    hits = events[0].hits if isinstance(events[0], Retrieved) else []
    answer = events[-1].answer
    assert hits and all((h.date or "").startswith("2024") or h.meta.year == 2024 for h in hits)
    assert answer.text.startswith("Only papers dated 2024 were searched. ")
    assert answer.question == "Which papers study vision-language pre-training?"
    # A year no paper of the topic is dated with: declined, saying so.
    none = answerer.answer("Which papers before 2015 study speech recognition?")
    assert none.abstained and none.text == (
        f"Only papers dated up to 2014 were searched. {ABSTAIN_PHRASE} It holds no paper "
        "dated up to 2014 that matches it."
    )
    # Dates the request already gives win over the question's words.
    given = AnswerOptions(filters=Filters.of(since="2023", until="2023"))
    kept = answerer.answer("Which papers from 2024 study speech?", options=given)
    assert not kept.text.startswith("Only papers dated")
    assert all((h.date or "").startswith("2023") or h.meta.year == 2023 for h in kept.hits)
