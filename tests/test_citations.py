"""Citation checks: markers parsed in every form, sentences checked against their sources.

The parser tests are instant. The answer tests run the fake LLM through the real Answerer over
the shared ingested index with the real embedder, so support is judged as in production.
"""

from __future__ import annotations

import re

import pytest

from fake_llm import FakeLLM
from paperchat.answering import Answerer, Delta, Done
from paperchat.citations import (
    SentenceBuffer,
    is_abstention,
    specifics,
    split_markers,
    split_sentences,
    with_markers,
)
from paperchat.pipeline import Pipeline
from paperchat.prompts import ABSTAIN_PHRASE
from paperchat.records import Answer

ELECTRA_Q = "How does ELECTRA pre-train text encoders?"
ELECTRA_TITLE = "ELECTRA: Pre-training Text Encoders"
MARKER = re.compile(r"\[(\d+)\]")
# Claims the ELECTRA abstract states, in other words than the abstract's.
RTD = "ELECTRA trains a discriminator to predict whether each input token was replaced"
QUARTER = "ELECTRA performs as well as RoBERTa and XLNet with less than a quarter of their compute"
OFF = "The Eiffel Tower in Paris was completed in 1889 for the World Fair"


def make_answerer(pipeline: Pipeline, llm: FakeLLM, **answer: object) -> Answerer:
    settings = pipeline.settings.answer.model_copy(update=answer)
    return Answerer(
        pipeline.retriever,
        pipeline.embedder,
        pipeline.prompts,
        llm,
        settings,
        pipeline.settings.llm,
    )


def source_number(pipeline: Pipeline, question: str, title: str) -> int:
    """The [n] the answerer gives the paper for this question (retrieval is deterministic)."""
    hits = pipeline.retriever.search(question)
    return next(i for i, h in enumerate(hits, start=1) if h.title.startswith(title))


def streamed(answerer: Answerer, question: str) -> tuple[list[str], Answer]:
    deltas: list[str] = []
    for event in answerer.stream(question):
        if isinstance(event, Delta):
            deltas.append(event.text)
        elif isinstance(event, Done):
            return deltas, event.answer
    raise AssertionError("no Done event")


def markers(text: str) -> list[int]:
    return [int(n) for n in MARKER.findall(text)]


def assert_citations_consistent(answer: Answer) -> None:
    """Every marker names a citation, every citation is marked, all are retrieved papers."""
    retrieved = {h.paper_id for h in answer.hits}
    cited = {c.n for c in answer.citations}
    assert set(markers(answer.text)) == cited
    assert all(c.paper_id in retrieved for c in answer.citations)
    by_n = {i: h.paper_id for i, h in enumerate(answer.hits, start=1)}
    assert all(by_n[c.n] == c.paper_id for c in answer.citations)


# -- parsing (instant) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "claim", "numbers"),
    [
        ("ELECTRA detects replaced tokens [1].", "ELECTRA detects replaced tokens.", [1]),
        ("ELECTRA detects replaced tokens [1, 2].", "ELECTRA detects replaced tokens.", [1, 2]),
        ("ELECTRA detects replaced tokens [1][2].", "ELECTRA detects replaced tokens.", [1, 2]),
        ("ELECTRA detects replaced tokens. [1]", "ELECTRA detects replaced tokens.", [1]),
        ("ELECTRA detects replaced tokens.[2] [3]", "ELECTRA detects replaced tokens.", [2, 3]),
        ("ELECTRA detects replaced tokens [1; 3].", "ELECTRA detects replaced tokens.", [1, 3]),
        ("ELECTRA detects replaced tokens [1-3].", "ELECTRA detects replaced tokens.", [1, 2, 3]),
        ("[2] ELECTRA [2] detects replaced tokens.", "ELECTRA detects replaced tokens.", [2]),
        ("BERT masks tokens with [MASK].", "BERT masks tokens with [MASK].", []),
    ],
)
def test_split_markers(sentence: str, claim: str, numbers: list[int]) -> None:
    assert split_markers(sentence) == (claim, numbers)


def test_markers_after_the_period_stay_with_their_sentence() -> None:
    text = "ELECTRA detects replaced tokens. [1] It beats GPT. [1][2] DeBERTaV3 builds on it [2]."
    assert split_sentences(text) == [
        "ELECTRA detects replaced tokens. [1]",
        "It beats GPT. [1][2]",
        "DeBERTaV3 builds on it [2].",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "ELECTRA detects replaced tokens. [1] It beats GPT [1, 2]. Done!",
        "First claim [1].\n\nSecond claim. [2]\n- a bullet [3].",
        "No markers at all. Still two sentences.",
    ],
)
def test_streamed_sentences_match_whole_text_sentences(text: str) -> None:
    # Deltas of one character cut every marker apart: the buffer must not split them.
    buffer = SentenceBuffer()
    got = [s for ch in text for s in buffer.feed(ch)] + list(buffer.flush())
    assert got == split_sentences(text)


def test_markers_go_before_the_final_punctuation() -> None:
    assert with_markers("ELECTRA detects replaced tokens.", [1, 2]) == (
        "ELECTRA detects replaced tokens [1][2]."
    )
    assert with_markers("No punctuation", [3]) == "No punctuation [3]"
    assert with_markers("", [1]) == ""


def test_abstain_phrase_is_recognised_in_any_spacing_or_case() -> None:
    assert is_abstention(ABSTAIN_PHRASE)
    assert is_abstention(ABSTAIN_PHRASE.upper().replace(" ", "  "))
    assert not is_abstention("The collection answers this question.")


# -- checking answers over the real index ------------------------------------------------------


def test_numbers_naming_no_source_are_dropped_and_reported(ingested) -> None:
    llm = FakeLLM(f"{RTD} [7].")
    answer = make_answerer(ingested, llm, sources=3).answer(ELECTRA_Q)
    assert answer.invalid_markers == [7]
    assert "[7]" not in answer.text
    assert all(1 <= n <= 3 for n in markers(answer.text))
    assert_citations_consistent(answer)


def test_uncited_sentence_gets_its_best_supporting_source(ingested) -> None:
    electra = source_number(ingested, ELECTRA_Q, ELECTRA_TITLE)
    answer = make_answerer(ingested, FakeLLM(f"{RTD}.")).answer(ELECTRA_Q)
    assert answer.text == f"{RTD} [{electra}]."
    assert answer.citations[0].title.startswith(ELECTRA_TITLE)
    assert answer.unsupported == []
    assert_citations_consistent(answer)


@pytest.mark.parametrize("wrong_title", ["DeBERTaV3", "Aligned with LLM"])
def test_citation_to_the_wrong_paper_is_moved_to_the_right_one(ingested, wrong_title) -> None:
    # DeBERTaV3 shares ELECTRA's topic and clears the support threshold; the other does not.
    electra = source_number(ingested, ELECTRA_Q, ELECTRA_TITLE)
    wrong = source_number(ingested, ELECTRA_Q, wrong_title)
    answer = make_answerer(ingested, FakeLLM(f"{QUARTER} [{wrong}].")).answer(ELECTRA_Q)
    assert markers(answer.text) == [electra]
    assert [c.n for c in answer.citations] == [electra]
    assert_citations_consistent(answer)


def test_sentence_no_source_supports_is_reported_and_left_uncited(ingested) -> None:
    electra = source_number(ingested, ELECTRA_Q, ELECTRA_TITLE)
    reply = f"{RTD} [{electra}]. {OFF} [{electra}]."
    answer = make_answerer(ingested, FakeLLM(reply)).answer(ELECTRA_Q)
    assert answer.unsupported == [f"{OFF}."]
    assert f"{OFF}." in answer.text and f"{OFF} [" not in answer.text
    assert [c.n for c in answer.citations] == [electra]
    assert_citations_consistent(answer)


@pytest.mark.parametrize(
    ("claim", "numbers", "names"),
    [
        ("Elon Musk created Language-Codec in 2019.", {"2019"}, {"musk", "language-codec"}),
        (
            "It reaches 85.3% on GLUE, beating RoBERTa's 1,024-token model.",
            {"85.3", "1024"},
            {"glue", "roberta"},
        ),
        # The first word, and one opening a clause after a colon, are capitalised anyway.
        ("The model: Its discriminator learns from every token.", set(), set()),
    ],
)
def test_a_claims_specifics_are_its_numbers_and_names(
    claim: str, numbers: set[str], names: set[str]
) -> None:
    assert specifics(claim) == (numbers, names)


def test_a_claim_close_in_meaning_but_with_facts_the_source_lacks_is_not_cited(ingested) -> None:
    electra = source_number(ingested, ELECTRA_Q, ELECTRA_TITLE)
    made_up = "ELECTRA was designed by Elon Musk at Berkeley in 2019 to detect replaced tokens"
    reply = f"{QUARTER} [{electra}]. {made_up} [{electra}]."
    answer = make_answerer(ingested, FakeLLM(reply)).answer(ELECTRA_Q)
    # The true claim keeps its citation; the made-up one is reported and left uncited.
    assert answer.text == f"{QUARTER} [{electra}]. {made_up}."
    assert answer.unsupported == [f"{made_up}."]
    # The abstract's own numbers are specifics it holds: "less than 1/4 of their compute".
    quarter = "ELECTRA matches RoBERTa and XLNet with less than 1/4 of their compute"
    cited = make_answerer(ingested, FakeLLM(f"{quarter} [{electra}].")).answer(ELECTRA_Q)
    assert cited.text == f"{quarter} [{electra}]." and cited.unsupported == []


@pytest.mark.parametrize(
    "form",
    ["{claim} [{a}, {b}].", "{claim} [{a}][{b}].", "{claim}. [{a}][{b}]", "{claim}.[{a}, {b}]"],
)
def test_every_marker_form_is_checked_alike(ingested, form: str) -> None:
    question = "Compare ELECTRA and DeBERTaV3: what pre-training task do they share?"
    a = source_number(ingested, question, ELECTRA_TITLE)
    b = source_number(ingested, question, "DeBERTaV3")
    claim = "ELECTRA and DeBERTaV3 both pre-train with replaced token detection"
    answer = make_answerer(ingested, FakeLLM(form.format(claim=claim, a=a, b=b))).answer(question)
    assert answer.text == f"{claim} [{a}][{b}]."
    assert_citations_consistent(answer)


def test_streamed_deltas_carry_exactly_the_answer_text_and_markers(ingested) -> None:
    electra = source_number(ingested, ELECTRA_Q, ELECTRA_TITLE)
    reply = f"In short: {RTD}. [{electra}] {QUARTER} [9]. {OFF}."
    llm = FakeLLM(reply)
    deltas, answer = streamed(make_answerer(ingested, llm), ELECTRA_Q)
    assert len(llm.deltas) > 20  # the model streamed in small pieces
    assert len(deltas) >= 3  # ... and the answer went out sentence by sentence
    assert "".join(deltas) == answer.text
    assert markers("".join(deltas)) == markers(answer.text)
    assert markers(answer.text) == [electra, electra]
    assert answer.invalid_markers == [9]
    assert_citations_consistent(answer)


def test_citations_only_name_retrieved_papers(ingested) -> None:
    # Numbers beyond the retrieved papers, and plausible ones, never invent a paper.
    reply = f"{RTD} [1][2][3][4][5][6][40]. {QUARTER} [0]."
    answer = make_answerer(ingested, FakeLLM(reply)).answer(ELECTRA_Q)
    assert sorted(answer.invalid_markers) == [0, 6, 40]
    assert answer.citations
    assert_citations_consistent(answer)
