"""The server embeds the papers' sentences ahead of answers: an extractive answer then runs
the model for its question only (and for the question without the paper's name it uses)."""

from __future__ import annotations

from pathlib import Path

from paperchat.extractive import candidates
from paperchat.passages import merge_chunks
from paperchat.pipeline import Pipeline
from paperchat.prompts import Source
from paperchat.server.indexing import IndexStatus
from paperchat.server.warming import SentenceWarmer, paper_sentences
from paperchat.settings import Settings

LISTING = Path(__file__).parent / "data" / "formats" / "listing.txt"


def test_warmed_sentences_leave_an_answer_one_model_call(tmp_path: Path) -> None:
    pipeline = Pipeline(Settings(data_dir=tmp_path))
    try:
        pipeline.ingestor.run([LISTING])
        status = IndexStatus()
        warmer = SentenceWarmer(pipeline, status)
        warmer.start()
        status.done(pipeline.index.count_papers(), pipeline.index.count_chunks())
        assert warmer.done.wait(300)
        assert warmer.report() == {"embedded_ahead": warmer.sentences, "done": True}
        assert warmer.sentences >= 2

        answerer = pipeline.answerer("extractive")
        calls = pipeline.embedder._coalesced.calls
        answer = answerer.answer("What does ELECTRA pre-train its encoder to do?")
        assert answer.citations and not answer.abstained
        # The question, and the question with its paper's name left out (what the sentences
        # are scored against); the sentences themselves cost no model call.
        assert pipeline.embedder._coalesced.calls == calls + 2

        # The sentences warmed are the ones the answer scored: cut from the whole abstract.
        (hit,) = pipeline.retriever.whole_papers(answer.question, answer.hits[:1])
        scored = candidates([Source(1, hit, merge_chunks(hit.chunks))])
        assert {c.text for c in scored} <= set(paper_sentences(pipeline.index, [hit.paper_id]))
    finally:
        pipeline.close()
