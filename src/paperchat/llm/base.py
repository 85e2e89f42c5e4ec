"""The chat-model interface every backend implements: stream deltas, count tokens.

`generate` and `count_message_tokens` have defaults built on the two abstract methods, so a
new backend (or a test fake) needs only `stream` and `count_tokens`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from paperchat.errors import LLMUnavailableError

Message = dict[str, str]

MESSAGE_OVERHEAD_TOKENS = 4  # role name and delimiters a chat template adds per message


class ContextOverflowError(LLMUnavailableError):
    """The prompt plus max_tokens does not fit the model's context: retry with fewer sources."""

    status_code = 400
    error_type = "invalid_request_error"


@dataclass(frozen=True, slots=True)
class Generation:
    """A finished completion and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class ChatLLM(ABC):
    """A chat model: stream text deltas, or generate a whole answer with token counts."""

    name: str = "llm"  # backend name: "vllm" | "local"
    model: str = ""  # what is served or loaded, for logs and usage reports
    context_tokens: int = 2048

    @abstractmethod
    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        """Yield the answer as text deltas while it is generated."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's prompt (exact or a close estimate)."""

    def generate(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Generation:
        """The whole answer; backends that know exact usage override this."""
        text = "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature))
        return Generation(text, self.count_message_tokens(messages), self.count_tokens(text))

    def count_message_tokens(self, messages: list[Message]) -> int:
        """Prompt size of a chat, for trimming sources to fit `context_tokens`."""
        return sum(self.count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)
