"""Answering: abstention, bad questions, context limits, a down server, follow-ups, `ask --json`.

Integration tier: the real Answerer over the shared ingested index and the real embedder, with
the fake LLM (or none: extractive) standing in for the model.
"""

from __future__ import annotations

import json
import re

import pytest

from fake_llm import FakeLLM
from paperchat.answering import Answerer, Delta, Done
from paperchat.citations import split_sentences
from paperchat.cli import main
from paperchat.corpus import load_papers
from paperchat.errors import BadQuestionError, LLMUnavailableError
from paperchat.llm import ChatLLM, OpenAICompatibleLLM
from paperchat.pipeline import Pipeline
from paperchat.prompts import ABSTAIN_PHRASE, SOURCES_CLOSE, TENTATIVE_NOTE
from paperchat.records import Answer, Turn
from paperchat.settings import SHIPPED_CORPUS, LLMSettings, Settings
from test_llm import _refused_url

ELECTRA_Q = "How does ELECTRA pre-train text encoders?"
ELECTRA_TITLE = "ELECTRA: Pre-training Text Encoders"
OFF_TOPIC = "What is a good recipe for sourdough bread with a crispy crust?"
RTD = "ELECTRA trains a discriminator to predict whether each input token was replaced."
MARKER = re.compile(r"\[(\d+)\]")
CONDENSE_INSTRUCTION = "Rewrite the last question of this conversation"


def make_answerer(
    pipeline: Pipeline, llm: ChatLLM | None, *, max_tokens: int | None = None, **answer: object
) -> Answerer:
    settings = pipeline.settings.answer.model_copy(update=answer)
    llm_settings = pipeline.settings.llm
    if max_tokens is not None:
        llm_settings = llm_settings.model_copy(update={"max_tokens": max_tokens})
    return Answerer(
        pipeline.retriever, pipeline.embedder, pipeline.prompts, llm, settings, llm_settings
    )


def source_count(messages: list[dict[str, str]]) -> int:
    """How many numbered sources the user message holds."""
    block = messages[-1]["content"].split(SOURCES_CLOSE)[0]
    return len(re.findall(r"^\[\d+\] ", block, re.MULTILINE))


def assert_cited_answer(answer: Answer) -> None:
    assert not answer.abstained
    assert answer.citations
    assert {int(n) for n in MARKER.findall(answer.text)} == {c.n for c in answer.citations}
    retrieved = {h.paper_id for h in answer.hits}
    assert all(c.paper_id in retrieved for c in answer.citations)


# -- abstention --------------------------------------------------------------------------------


def test_off_topic_question_abstains_listing_the_closest_papers(ingested) -> None:
    llm = FakeLLM("Knead the dough [1].")
    events = list(make_answerer(ingested, llm).stream(OFF_TOPIC))
    answer = events[-1].answer
    assert answer.abstained
    assert answer.citations == []
    assert answer.text.startswith(ABSTAIN_PHRASE)
    assert all(f"- {h.title}" in answer.text for h in answer.hits[:3])
    assert llm.requests == []  # no model call for a question the papers do not cover
    assert "".join(e.text for e in events if isinstance(e, Delta)) == answer.text


def test_who_wrote_it_says_the_record_first_on_every_backend(ingested) -> None:
    # The shipped listings give no authors: the answer says so before anything the model
    # writes, and the model's cited answer follows.
    llm = FakeLLM("ELECTRA trains a discriminator to detect replaced tokens [1].")
    answer = make_answerer(ingested, llm).answer("Who wrote the ELECTRA paper?")
    first, rest = answer.text.split("\n")[0].split(" gives no authors. ", 1)
    assert first.startswith("The collection's record of \"ELECTRA: ") and first.endswith("[1]")
    assert rest.startswith("ELECTRA trains a discriminator")
    assert answer.citations[0].title.startswith("ELECTRA:") and len(llm.requests) == 1


def test_papers_by_an_author_in_a_collection_without_authors_say_so(ingested) -> None:
    # The shipped listings record no authors: the answer says that, not a closest paper.
    answer = make_answerer(ingested, None).answer("Papers by Kevin Clark")
    assert answer.text == (
        "No paper in the collection lists Kevin Clark among its authors; none of its records "
        "names any author."
    )
    assert answer.citations == [] and not answer.abstained


# Close to the collection in embedding space (transformers, images, pre-training), but about
# topics no paper covers: dense similarity alone let these through.
NEAR_MISSES = [
    "Which paper runs pre-trained transformers on quantum computers?",
    "Which paper counts people in dense crowd images?",
    OFF_TOPIC,
    # No topic at all: an abstract's "Thanks to ..." or "how many" is no coverage. (A
    # greeting, thanks, and the collection's size get a reply: test_replies.py.)
    "thanks, but that is not what I meant",
    "How many papers are in the collection about ice hockey?",
    "What is the best paper in the collection?",
]
# On-topic questions worded away from their paper's abstract.
PARAPHRASED = [
    ELECTRA_Q,
    "a discriminator learns to spot which input words were swapped by a small generator network",
    "medical model for cancer diagnosis from slide images using a disease knowledge graph",
    "football players treated like words in a sentence",
]


@pytest.mark.parametrize("question", NEAR_MISSES)
def test_off_topic_questions_near_the_collection_abstain(ingested, question: str) -> None:
    answer = make_answerer(ingested, None).answer(question)
    assert answer.abstained, [(h.title, h.relevance, h.coverage) for h in answer.hits[:3]]
    assert answer.text.startswith(ABSTAIN_PHRASE)


@pytest.mark.parametrize("question", PARAPHRASED)
def test_paraphrased_on_topic_questions_are_answered(ingested, question: str) -> None:
    answer = make_answerer(ingested, None).answer(question)
    assert not answer.abstained, [(h.title, h.relevance, h.coverage) for h in answer.hits[:3]]
    assert answer.citations


def test_the_abstract_asked_for_is_quoted_whole(ingested) -> None:
    (electra,) = [p for p in load_papers([SHIPPED_CORPUS])[0] if p.title.startswith("ELECTRA:")]
    answer = make_answerer(ingested, None).answer("What is the abstract of ELECTRA?")
    assert answer.text == f'The abstract of "{electra.title}" [1]: "{electra.abstract}"'
    assert [c.title for c in answer.citations] == [electra.title]


def test_where_a_named_papers_code_is_comes_from_its_abstract(ingested) -> None:
    answerer = make_answerer(ingested, None)
    bridge = answerer.answer("Where can I find the code for BridgeTower?")
    assert bridge.text.endswith("gives the link https://github.com/microsoft/BridgeTower.")
    assert [c.title.split(":")[0] for c in bridge.citations] == ["BridgeTower"]
    # A link the abstract's last window holds, and an abstract with none, said plainly.
    electra = answerer.answer("Is ELECTRA open source?")
    assert electra.text.endswith("gives no link to its code.") and not electra.abstained


def test_a_question_only_naming_a_paper_opens_with_what_it_proposes(ingested) -> None:
    # DCD's abstract proposes twice; the first says what DCD is, the later one a part of it.
    answer = make_answerer(ingested, None).answer("What is DCD?")
    (first, *_) = split_sentences(answer.text)
    assert "dynamic contrastive distillation (DCD) framework" in first, answer.text
    assert [c.title for c in answer.citations] == [
        "Dynamic Contrastive Distillation for Image-Text Retrieval"
    ]


def test_a_number_of_papers_asked_for_is_retrieved_and_listed(ingested) -> None:
    answerer = make_answerer(ingested, None)
    assert len(answerer.answer("Give me 2 papers about diffusion models").citations) == 2
    # More than retrieval's default five papers: the question's number widens it.
    many = answerer.answer("List 7 papers on vision-language pre-training")
    assert 5 < len(many.citations) <= 7 and len(many.hits) == 7


def test_model_saying_the_abstain_phrase_abstains(ingested) -> None:
    llm = FakeLLM(f"{ABSTAIN_PHRASE} [1]")
    answer = make_answerer(ingested, llm).answer(ELECTRA_Q)
    assert llm.requests  # the papers looked relevant: the model was asked
    assert answer.abstained
    assert answer.citations == []
    assert MARKER.search(answer.text) is None
    assert answer.text.startswith(ABSTAIN_PHRASE)
    assert f"- {answer.hits[0].title}" in answer.text


NEAR_FIELD_Q = "Which paper uses graph neural networks for traffic forecasting?"


def test_a_model_answer_on_weak_evidence_opens_with_the_note(ingested) -> None:
    reply = "Generative pre-trained diffusion models forecast time series zero-shot [1]."
    answer = make_answerer(ingested, FakeLLM(reply)).answer(NEAR_FIELD_Q)
    assert answer.tentative and not answer.abstained
    assert answer.text.startswith(TENTATIVE_NOTE + " ")
    assert answer.text.count(TENTATIVE_NOTE) == 1
    # A model that declines gets the plain abstention: no note saying it may not match.
    declined = make_answerer(ingested, FakeLLM(ABSTAIN_PHRASE)).answer(NEAR_FIELD_Q)
    assert declined.abstained and declined.text.startswith(ABSTAIN_PHRASE)
    assert TENTATIVE_NOTE not in declined.text


def test_abstain_phrase_after_a_cited_answer_is_left_out(ingested) -> None:
    llm = FakeLLM(f"{RTD} {ABSTAIN_PHRASE}")
    answer = make_answerer(ingested, llm).answer(ELECTRA_Q)
    assert not answer.abstained
    assert ABSTAIN_PHRASE not in answer.text
    assert_cited_answer(answer)


def test_model_answer_without_any_supported_claim_gets_the_extractive_answer(ingested) -> None:
    # What SmolLM2-135M served by vLLM wrote for an ELECTRA question: no claim, no marker.
    empty = "The answer to your question is:."
    answer = make_answerer(ingested, FakeLLM(empty)).answer(ELECTRA_Q)
    assert answer.text.startswith(empty)
    assert_cited_answer(answer)
    assert answer.citations[0].title.startswith(ELECTRA_TITLE)


def test_model_answer_with_a_citation_is_not_padded(ingested) -> None:
    answer = make_answerer(ingested, FakeLLM(f"{RTD} [1]")).answer(ELECTRA_Q)
    assert answer.text == f"{RTD[:-1]} [1]."  # the marker goes before the full stop
    assert [c.n for c in answer.citations] == [1]


# -- bad questions -----------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
def test_empty_question_is_refused(ingested, question: str) -> None:
    with pytest.raises(BadQuestionError, match="question is empty; ask something"):
        make_answerer(ingested, None).answer(question)


def test_a_label_pasted_with_the_question_is_no_part_of_it(ingested) -> None:
    answerer = make_answerer(ingested, None)
    assert answerer.validate("Q: Which papers detect AI-generated text?") == (
        "Which papers detect AI-generated text?"
    )
    assert answerer.validate("Question: What is ELECTRA?") == "What is ELECTRA?"
    assert answerer.validate("Q:") == "Q:"  # nothing after it: no label
    answer = answerer.answer("Q: Which papers detect AI-generated text?")
    assert not answer.abstained and answer.citations[0].title.startswith("LLM-Detector:")


def test_over_long_question_is_refused_naming_the_limit(ingested) -> None:
    answerer = make_answerer(ingested, None, max_question_chars=100)
    with pytest.raises(BadQuestionError) as info:
        answerer.answer("why " * 40)
    message = str(info.value)
    assert "159 characters; the limit is 100" in message
    assert "PAPERCHAT_ANSWER_MAX_QUESTION_CHARS" in message


# -- context limits ----------------------------------------------------------------------------


def test_small_context_trims_the_sources_to_fit(ingested) -> None:
    llm = FakeLLM(RTD, context_tokens=600)  # the fake counts words as tokens
    answer = make_answerer(ingested, llm, max_tokens=64).answer(ELECTRA_Q)
    (request,) = llm.requests
    assert 1 <= source_count(request.messages) < 5
    assert llm.count_message_tokens(request.messages) <= 600 - 64
    assert_cited_answer(answer)


def test_context_too_small_for_any_source_answers_extractively(ingested) -> None:
    llm = FakeLLM(RTD, context_tokens=300)  # the instructions alone nearly fill it
    answer = make_answerer(ingested, llm).answer(ELECTRA_Q)
    assert llm.requests == []
    assert answer.text.startswith("According to")
    assert_cited_answer(answer)


def test_overflow_reported_by_the_server_retries_with_fewer_sources(ingested) -> None:
    llm = FakeLLM(RTD, overflow_times=1)
    answer = make_answerer(ingested, llm).answer(ELECTRA_Q)
    first, second = llm.requests
    assert source_count(second.messages) == source_count(first.messages) - 1
    assert first.messages[0] == second.messages[0]
    assert_cited_answer(answer)


def test_overflow_that_never_ends_still_answers(ingested) -> None:
    llm = FakeLLM(RTD, overflow_times=100)
    answer = make_answerer(ingested, llm).answer(ELECTRA_Q)
    assert [source_count(r.messages) for r in llm.requests] == [5, 4, 3, 2, 1]
    assert_cited_answer(answer)


# -- LLM server down ---------------------------------------------------------------------------


def test_llm_server_down_names_the_url(ingested) -> None:
    url = _refused_url()
    llm = OpenAICompatibleLLM(LLMSettings(url=url, timeout=2, retries=0))
    with pytest.raises(LLMUnavailableError) as info:
        make_answerer(ingested, llm).answer(ELECTRA_Q)
    assert url in str(info.value)
    assert "PAPERCHAT_LLM_URL" in str(info.value)


def test_cli_reports_a_down_server_while_extractive_still_answers(
    index_copy: Settings, monkeypatch, capsys
) -> None:
    url = _refused_url()
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(index_copy.data_dir))
    monkeypatch.setenv("PAPERCHAT_LLM_URL", url)
    monkeypatch.setenv("PAPERCHAT_LLM_TIMEOUT", "2")
    monkeypatch.setenv("PAPERCHAT_LLM_RETRIES", "0")
    assert main(["ask", ELECTRA_Q, "--backend", "vllm"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and url in err
    assert main(["ask", ELECTRA_Q, "--backend", "extractive", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["citations"] and not record["abstained"]


# -- follow-ups --------------------------------------------------------------------------------

ELECTRA_HISTORY = (
    Turn("user", "Which paper proposes replaced token detection?"),
    Turn(
        "assistant",
        "The discriminator learns to spot replaced tokens [2].\n\nSources:\n"
        "[2] ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators "
        "(https://github.com/google-research/electra)",
    ),
)
FOLLOW_UP = "How much compute did it need?"


def test_follow_up_is_condensed_from_the_conversation(ingested) -> None:
    answer = make_answerer(ingested, None).answer(FOLLOW_UP, ELECTRA_HISTORY)
    assert answer.question.startswith(FOLLOW_UP)
    assert "ELECTRA: Pre-training Text Encoders" in answer.question  # the cited paper ...
    assert "github.com" not in answer.question  # ... without its link
    assert answer.hits[0].title.startswith(ELECTRA_TITLE)
    assert answer.citations[0].title.startswith(ELECTRA_TITLE)


def test_the_same_follow_up_without_history_finds_something_else(ingested) -> None:
    hits = ingested.retriever.search(FOLLOW_UP)
    assert not hits[0].title.startswith(ELECTRA_TITLE)  # the history is what finds ELECTRA


def test_standalone_question_with_history_is_left_alone(ingested) -> None:
    question = "Which paper trains a model that spots replaced tokens?"
    answer = make_answerer(ingested, None).answer(question, ELECTRA_HISTORY)
    assert answer.question == question


def test_llm_condense_sends_the_condense_prompt(ingested) -> None:
    rewritten = "How much compute did ELECTRA need for pre-training?"
    llm = FakeLLM([f"Standalone question: {rewritten}\nThat is all.", RTD])
    # Abstention off: this test is about the rewrite, and the short rewrite shares few terms
    # with ELECTRA's abstract (the coverage rule would decline it before the model answers).
    answerer = make_answerer(ingested, llm, condense="llm", coverage_threshold=0.0)
    answer = answerer.answer(FOLLOW_UP, ELECTRA_HISTORY)
    condense, reply = llm.requests
    (prompt,) = condense.messages
    assert prompt["role"] == "user" and CONDENSE_INSTRUCTION in prompt["content"]
    assert f"Last question: {FOLLOW_UP}" in prompt["content"]
    assert "user: Which paper proposes replaced token detection?" in prompt["content"]
    assert condense.temperature == 0.0
    assert answer.question == rewritten
    assert f"Question: {rewritten}" in reply.messages[1]["content"]
    assert_cited_answer(answer)


def test_heuristic_condense_never_calls_the_model_to_rewrite(ingested) -> None:
    llm = FakeLLM(RTD)
    make_answerer(ingested, llm, condense="heuristic").answer(FOLLOW_UP, ELECTRA_HISTORY)
    (only,) = llm.requests
    assert CONDENSE_INSTRUCTION not in only.messages[-1]["content"]


# -- streaming and `ask --json` --------------------------------------------------------------


def test_stream_events_in_order_with_timings_and_usage(ingested) -> None:
    events = list(make_answerer(ingested, FakeLLM(RTD)).stream(ELECTRA_Q))
    assert type(events[0]).__name__ == "Retrieved" and isinstance(events[-1], Done)
    answer = events[-1].answer
    assert "".join(e.text for e in events if isinstance(e, Delta)) == answer.text
    assert set(answer.timings) >= {"retrieve", "first_token", "generate", "total"}
    assert answer.usage["prompt_tokens"] > 100
    # The completion is the answer delivered (checked markers included), in the model's tokens.
    assert answer.usage["completion_tokens"] == len(answer.text.split()) >= len(RTD.split())


def test_ask_json_contract(index_copy: Settings, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(index_copy.data_dir))
    assert main(["ask", ELECTRA_Q, "--backend", "extractive", "--k", "4", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert {"answer", "citations", "abstained", "retrieved", "timings"} <= set(record)
    assert record["abstained"] is False
    assert [r["rank"] for r in record["retrieved"]] == [1, 2, 3, 4]
    assert set(record["retrieved"][0]) == {"rank", "paper_id", "title", "score", "text"}
    assert record["citations"]
    for citation in record["citations"]:
        assert set(citation) == {"n", "paper_id", "title", "url"}
        assert record["retrieved"][citation["n"] - 1]["paper_id"] == citation["paper_id"]
    markers = {int(n) for n in MARKER.findall(record["answer"])}
    assert markers == {c["n"] for c in record["citations"]}
    assert record["citations"][0]["title"].startswith(ELECTRA_TITLE)
    assert all(isinstance(v, float) for v in record["timings"].values())

    assert main(["ask", OFF_TOPIC, "--backend", "extractive", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["abstained"] is True and record["citations"] == []
    assert record["answer"].startswith(ABSTAIN_PHRASE)
