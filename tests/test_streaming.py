"""Streaming answers: text before the sentence is done, never an unchecked marker, token
limits, cancellation and a client's own instructions.

Integration tier: the real Answerer over the shared ingested index and the real embedder, with
the fake LLM streaming three characters at a time.
"""

from __future__ import annotations

import re
import threading

from fake_llm import FakeLLM
from paperchat.answering import AnswerOptions, Delta, Done, Limits, Retrieved
from paperchat.chunking import count_tokens
from paperchat.citations import SentenceBuffer
from paperchat.prompts import ABSTAIN_PHRASE
from test_answering import ELECTRA_Q, make_answerer

MARKER = re.compile(r"\[(\d+)\]")
REPLY = (
    "ELECTRA trains a discriminator to predict whether each input token was replaced by a "
    "generator sample [1][9]. This replaced token detection task learns from all input tokens, "
    "which makes it more compute-efficient than masked language modeling [1]."
)


def deltas(events: list) -> list[str]:
    return [e.text for e in events if isinstance(e, Delta)]


def test_buffer_streams_only_marker_free_starts():
    buffer = SentenceBuffer()
    list(buffer.feed("ELECTRA trains a discriminator [1"))
    assert buffer.streamable() == "ELECTRA trains a discriminator"
    list(buffer.feed("] on replaced tokens."))
    assert buffer.streamable() == "ELECTRA trains a discriminator on replaced tokens"
    list(buffer.feed(" The collection does"))
    assert buffer.streamable() == ""  # may become the abstain phrase: held back


def test_buffer_holds_a_possible_abstain_phrase_mid_sentence():
    buffer = SentenceBuffer()
    list(buffer.feed("Sadly, the collection"))
    assert buffer.streamable() == "Sadly,"
    list(buffer.feed(ABSTAIN_PHRASE[len("The collection") : -1]))
    assert buffer.streamable() == ""


def test_model_text_streams_word_by_word_and_never_shows_an_unchecked_marker(ingested):
    llm = FakeLLM(REPLY)
    events = list(make_answerer(ingested, llm).stream(ELECTRA_Q))
    answer = events[-1].answer
    pieces = deltas(events)
    assert "".join(pieces) == answer.text
    # Text arrived long before the first sentence was complete and checked.
    first_sentence = answer.text.split(". ")[0]
    assert len(pieces) > 10
    assert len(pieces[0]) < len(first_sentence) / 2
    cited = {c.n for c in answer.citations}
    assert cited
    shown = ""
    for piece in pieces:  # what a reader has seen at every moment
        shown += piece
        assert {int(n) for n in MARKER.findall(shown)} <= cited
    assert "[9]" not in answer.text and 9 in answer.invalid_markers


def test_max_tokens_cuts_the_answer_with_finish_reason_length(ingested):
    for llm in (None, FakeLLM(REPLY)):
        answerer = make_answerer(ingested, llm)
        events = list(
            answerer.stream(ELECTRA_Q, options=AnswerOptions(limits=Limits(max_tokens=12)))
        )
        answer = events[-1].answer
        assert answer.finish_reason == "length", llm
        assert 0 < answerer.count_tokens(answer.text) <= 12
        assert "".join(deltas(events)) == answer.text
        assert {int(n) for n in MARKER.findall(answer.text)} == {c.n for c in answer.citations}
        assert answer.usage["completion_tokens"] == answerer.count_tokens(answer.text)


def test_a_short_answer_within_max_tokens_stops_normally(ingested):
    answer = make_answerer(ingested, None).answer(
        ELECTRA_Q, options=AnswerOptions(limits=Limits(max_tokens=4000))
    )
    assert answer.finish_reason == "stop"


def test_extractive_usage_is_counted_with_cl100k(ingested):
    answer = make_answerer(ingested, None).answer(ELECTRA_Q)
    assert answer.usage["completion_tokens"] == count_tokens(answer.text) > 0
    assert answer.usage["prompt_tokens"] > count_tokens(ELECTRA_Q)


def test_cancel_stops_the_model_at_once(ingested):
    llm = FakeLLM(REPLY * 20)
    cancel = threading.Event()
    stream = make_answerer(ingested, llm).stream(
        ELECTRA_Q, options=AnswerOptions(limits=Limits(cancel=cancel))
    )
    events = []
    for event in stream:
        events.append(event)
        if isinstance(event, Delta):
            cancel.set()
    answer = events[-1].answer
    assert isinstance(events[-1], Done) and isinstance(events[0], Retrieved)
    assert answer.finish_reason == "cancelled"
    assert len(llm.deltas) < 20  # the model was stopped, not drained
    assert "".join(deltas(events)) == answer.text


def test_client_instructions_follow_the_rules_and_never_replace_them(ingested):
    llm = FakeLLM(REPLY)
    limits = Limits(instructions="Answer in French.")
    make_answerer(ingested, llm).answer(ELECTRA_Q, options=AnswerOptions(limits=limits))
    system = llm.messages[0]["content"]
    assert system.startswith("You are paperchat")
    assert "square" in system  # the citation rule is still there
    assert system.index("Answer in French.") > system.index(ABSTAIN_PHRASE)
