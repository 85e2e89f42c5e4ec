"""End to end on the shipped corpus with real answer backends: cited, checked, streamed.

`slow`: the in-process SmolLM2-135M (`local`) and `extractive`. `vllm`: the real vLLM CPU
server at PAPERCHAT_TEST_VLLM_URL (`bash .ci/vllm-service.sh start`); with
PAPERCHAT_REQUIRE_VLLM=1 a missing server fails these tests instead of skipping them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperchat.answering import Answerer, Delta, Done, Retrieved
from paperchat.llm import OpenAICompatibleLLM
from paperchat.pipeline import Pipeline
from paperchat.records import Answer
from test_llm import _absent, vllm_config, vllm_llm  # noqa: F401  # fixtures, shared

ELECTRA_Q = "What pre-training task does ELECTRA propose instead of masked language modeling?"
ELECTRA_TITLE = "ELECTRA: Pre-training Text Encoders"
MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture(scope="session")
def pipeline(ingested: Pipeline, models_dir: Path) -> Iterator[Pipeline]:
    """The shared ingested pipeline, its models folder pointed at the session's models."""
    link = ingested.settings.models_dir
    if not link.exists():
        link.symlink_to(models_dir, target_is_directory=True)
    yield ingested


def streamed(answerer: Answerer, question: str) -> tuple[list[object], Answer]:
    events = list(answerer.stream(question))
    done = events[-1]
    assert isinstance(done, Done)
    return events, done.answer


def assert_verified(events: list[object], answer: Answer, sources: int) -> None:
    """Cited, every citation a retrieved paper behind a valid number, deltas = text."""
    assert isinstance(events[0], Retrieved)
    assert "".join(e.text for e in events if isinstance(e, Delta)) == answer.text
    assert not answer.abstained
    assert len(answer.citations) >= 1
    retrieved = [h.paper_id for h in answer.hits]
    for c in answer.citations:
        assert 1 <= c.n <= min(sources, len(retrieved))
        assert retrieved[c.n - 1] == c.paper_id
    assert {int(n) for n in MARKER.findall(answer.text)} == {c.n for c in answer.citations}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "extractive"])
def test_cpu_backends_answer_electra_with_verified_citations(pipeline, backend: str) -> None:
    answerer = pipeline.answerer(backend)
    assert answerer.backend == backend
    events, answer = streamed(answerer, ELECTRA_Q)
    assert answer.hits[0].title.startswith(ELECTRA_TITLE)
    assert_verified(events, answer, pipeline.settings.answer.sources)
    assert any(c.title.startswith(ELECTRA_TITLE) for c in answer.citations)
    if backend == "local":
        assert answer.usage["completion_tokens"] > 0
        assert 0 < answer.timings["first_token"] <= answer.timings["total"]


@pytest.fixture(scope="session")
def vllm_answerer(pipeline, vllm_llm: OpenAICompatibleLLM) -> Answerer:  # noqa: F811
    """The pipeline's retrieval with the real vLLM server as the model."""
    base = pipeline.answerer("extractive")
    return Answerer(
        base.retriever, base.embedder, base.prompts, vllm_llm, base.settings, base.llm_settings
    )


@pytest.mark.vllm
def test_vllm_streams_an_answer_with_verified_citations(vllm_answerer) -> None:
    events, answer = streamed(vllm_answerer, ELECTRA_Q)
    assert_verified(events, answer, vllm_answerer.settings.sources)
    assert answer.usage["prompt_tokens"] > 100
    assert answer.timings["first_token"] < answer.timings["total"]


@pytest.mark.vllm
def test_vllm_answer_matches_its_stream(vllm_answerer) -> None:
    # Greedy decoding on one server: the drained answer is the streamed one.
    answer = vllm_answerer.answer(ELECTRA_Q)
    _, again = streamed(vllm_answerer, ELECTRA_Q)
    assert answer.text == again.text
    assert [c.paper_id for c in answer.citations] == [c.paper_id for c in again.citations]
    assert answer.citations


@pytest.mark.vllm
def test_vllm_backend_through_the_pipeline(pipeline, vllm_config) -> None:  # noqa: F811
    settings = pipeline.settings.model_copy(update={"llm": vllm_config})
    answerer = pipeline.derive(settings).answerer("vllm")
    if not isinstance(answerer.llm, OpenAICompatibleLLM):
        _absent("the pipeline did not build the vllm backend")
    events, answer = streamed(answerer, ELECTRA_Q)
    assert_verified(events, answer, settings.answer.sources)
