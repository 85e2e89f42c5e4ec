"""Fakes of the pipeline's collaborators, for the instant unit tests of the serving layer.

Each fake keeps a history of its calls so tests can check what reached it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from paperchat.answering import DEFAULTS, AnswerEvent, AnswerOptions, Delta, Done, Retrieved
from paperchat.errors import BadQuestionError, PaperchatError
from paperchat.index import Filters
from paperchat.ingest import FileReport, IngestReport
from paperchat.records import Answer, Citation, Hit, Turn

ELECTRA = Hit(
    paper_id="electra",
    title="ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators",
    score=0.9,
    text="ELECTRA trains a discriminator on replaced token detection.",
    chunks=("ELECTRA trains a discriminator on replaced token detection.",),
    urls=("https://github.com/google-research/electra",),
    relevance=0.8,
)
SPEECH = Hit(
    paper_id="speech",
    title="Scaling Speech-Text Pre-training with Synthetic Interleaved Data",
    score=0.5,
    text="Synthetic interleaved speech-text data replaces parallel data.",
    relevance=0.6,
)


def citation(n: int, hit: Hit) -> Citation:
    return Citation(
        n=n,
        paper_id=hit.paper_id,
        title=hit.title,
        url=hit.url,
        passage=hit.text,
        urls=hit.urls,
        relevance=hit.relevance,
        page=hit.page,
    )


@dataclass
class Call:
    question: str
    history: list[Turn]
    options: AnswerOptions


@dataclass
class FakeAnswerer:
    """Answers every question with one scripted answer, sentence by sentence.

    `fail_before` raises before any event; `fail_after` raises after that many deltas.
    """

    hits: list[Hit] = field(default_factory=lambda: [ELECTRA, SPEECH])
    sentences: list[str] = field(
        default_factory=lambda: ["ELECTRA detects replaced tokens [1].", " It is efficient [1]."]
    )
    abstained: bool = False
    unsupported: list[str] = field(default_factory=list)  # sentences no source supports
    fail_before: PaperchatError | None = None
    fail_after: tuple[int, Exception] | None = None
    calls: list[Call] = field(default_factory=list)
    backend: str = "extractive"
    llm: object = None

    def stream(
        self, question: str, history: Sequence[Turn] = (), options: AnswerOptions = DEFAULTS
    ) -> Iterator[AnswerEvent]:
        self.calls.append(Call(question, list(history), options))
        self.validate(question)
        if self.fail_before:
            raise self.fail_before
        yield Retrieved(self.hits)
        for i, sentence in enumerate(self.sentences):
            if self.fail_after and i == self.fail_after[0]:
                raise self.fail_after[1]
            yield Delta(sentence)
        yield Done(self._answer(question))

    def validate(self, question: str) -> str:
        if not question.strip():
            raise BadQuestionError("The question is empty; ask something about the papers.")
        return question

    def answer(
        self, question: str, history: Sequence[Turn] = (), options: AnswerOptions = DEFAULTS
    ) -> Answer:
        *_, done = self.stream(question, history, options)
        assert isinstance(done, Done)
        return done.answer

    def _answer(self, question: str) -> Answer:
        citations = [] if self.abstained else [citation(1, self.hits[0])]
        return Answer(
            text="".join(self.sentences),
            citations=citations,
            abstained=self.abstained,
            unsupported=list(self.unsupported),
            hits=self.hits,
            question=question,
            timings={"retrieve": 0.01, "generate": 0.02, "total": 0.03},
            usage={"prompt_tokens": 10, "completion_tokens": 5},
        )


class FakeIndex:
    collection = "papers_fake"

    def __init__(self, chunks: int = 10) -> None:
        self.chunks = chunks

    def count_chunks(self) -> int:
        return self.chunks

    def count_papers(self) -> int:
        return self.chunks // 2

    def optimize(self) -> bool:
        return False


class FakeRetriever:
    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits
        self.calls: list[tuple[str, int | None, str | None]] = []

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        self.calls.append((query, k, mode))
        if not query.strip():
            raise BadQuestionError("The query is empty; type a question about the papers.")
        return self.hits[: k or len(self.hits)]

    def whole_papers(self, query: str, hits: list[Hit]) -> list[Hit]:
        return hits


class FakeIngestor:
    """Reports progress batch by batch; `gate` holds it until the test lets it go on."""

    def __init__(self, index: FakeIndex, batches: int = 3) -> None:
        self.index = index
        self.batches = batches
        self.gate = threading.Event()
        self.paths: list[Path] = []

    def run(
        self, paths: Iterable[Path], progress: Callable[[int, int], None] | None = None
    ) -> IngestReport:
        self.paths = list(paths)
        for _ in range(self.batches):
            self.gate.wait(10)
            if progress:
                progress(2, 4)
        self.index.chunks = 4 * self.batches
        return IngestReport(files=[FileReport(path="fake.txt", papers=2 * self.batches)])


class FakePipeline:
    """What the server uses of `Pipeline`: index, retriever, ingestor, answerer."""

    def __init__(self, answerer: FakeAnswerer | None = None, chunks: int = 10) -> None:
        self.fake_answerer = answerer or FakeAnswerer()
        self.index = FakeIndex(chunks)
        self.retriever = FakeRetriever(self.fake_answerer.hits)
        self.ingestor = FakeIngestor(self.index)
        self.embedder = None  # no cache: the server warms nothing ahead of answers
        self.closed = False

    def answerer(self, backend: str | None = None) -> FakeAnswerer:
        return self.fake_answerer

    def warm_up(self) -> None:
        self.index.count_chunks()

    def close(self) -> None:
        self.closed = True


class FakeJudgeServer:
    """An OpenAI-compatible chat endpoint on a free local port that grades every answer 0.75.

    Real HTTP, so the judge's openai client is exercised; `requests` keeps each request body.
    """

    REPLY = '{"score": 0.75, "reason": "most claims are in the sources"}'

    def __init__(self) -> None:
        requests: list[dict] = []
        self.requests = requests
        reply = self.REPLY

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                requests.append(body)
                payload = json.dumps(
                    {
                        "id": "judge-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "judge"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply},
                                "finish_reason": "stop",
                            }
                        ],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
