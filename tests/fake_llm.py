"""A fake chat LLM for the answering tests: scripted replies, streamed in small deltas.

It goes through the real `ChatLLM` interface (token counting and `generate` included), so the
answerer cannot tell it from a served model, and it keeps every request for the tests to read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from paperchat.llm import ChatLLM, ContextOverflowError, Message

DELTA_CHARS = 3  # small pieces, so markers and sentence ends straddle deltas


@dataclass(frozen=True, slots=True)
class FakeRequest:
    messages: list[Message]
    max_tokens: int
    temperature: float


class FakeLLM(ChatLLM):
    """Replies with fixed texts in order (the last one repeats), a few characters per delta.

    `overflow_times` makes the first requests fail as an over-full context would on a server;
    `context_tokens` is what the answerer fits its prompt into. Tokens are counted as words,
    which keeps the arithmetic of the context tests readable.
    """

    name = "fake"
    model = "fake-llm"

    def __init__(
        self,
        replies: str | Sequence[str] = "",
        *,
        context_tokens: int = 2048,
        overflow_times: int = 0,
    ) -> None:
        self.replies = [replies] if isinstance(replies, str) else list(replies)
        self.context_tokens = context_tokens
        self.overflow_times = overflow_times
        self.requests: list[FakeRequest] = []
        self.deltas: list[str] = []  # everything streamed, in order

    @property
    def messages(self) -> list[Message]:
        """The messages of the last request."""
        return self.requests[-1].messages

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        self.requests.append(FakeRequest([dict(m) for m in messages], max_tokens, temperature))
        if self.overflow_times > 0:
            self.overflow_times -= 1
            raise ContextOverflowError("The prompt is too long for 'fake-llm' (scripted).")
        reply = self.replies[min(len(self.requests) - 1, len(self.replies) - 1)]
        for start in range(0, len(reply), DELTA_CHARS):
            delta = reply[start : start + DELTA_CHARS]
            self.deltas.append(delta)
            yield delta
