"""Chat completions from an OpenAI-compatible server (vLLM in production).

Also the client of the optional LLM judge in `paperchat eval`: one place that knows how to
talk to such a server and how to word its failures.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from paperchat.chunking import count_tokens as cl100k_tokens
from paperchat.errors import ConfigError, LLMUnavailableError
from paperchat.llm.base import ChatLLM, ContextOverflowError, Generation, Message
from paperchat.settings import LLMSettings

log = logging.getLogger(__name__)

# vLLM words its 400 for an over-long prompt in several ways across releases.
_CONTEXT_OVERFLOW = re.compile(r"context length|max_model_len|maximum model length", re.I)


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """What an OpenAI-compatible server says about itself at /v1/models."""

    models: tuple[str, ...]
    max_model_len: int | None = None  # vLLM reports it; other servers may not
    root: str | None = None  # vLLM: the path or hub id the served model was loaded from


@functools.cache
def _folder_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


class OpenAICompatibleLLM(ChatLLM):
    """Chat completions from a vLLM (or any OpenAI-compatible) server at `settings.llm.url`."""

    name = "vllm"

    def __init__(self, config: LLMSettings) -> None:
        if not config.url:
            raise ConfigError("The vllm backend needs PAPERCHAT_LLM_URL, e.g. http://vllm:8000/v1.")
        self.url = config.url.rstrip("/")
        self.model = config.model
        self.context_tokens = config.context_tokens
        self._seed = config.seed
        self._timeout = config.timeout
        self._probe_timeout = config.probe_timeout
        self._tokenizer_dir: Path | None = None
        self._client = openai.OpenAI(
            base_url=self.url,
            api_key=config.api_key or "EMPTY",  # vLLM without --api-key accepts any key
            timeout=config.timeout,
            max_retries=config.retries,
        )

    def probe(self) -> EndpointInfo:
        """Ask the server what it serves; LLMUnavailableError if it does not answer quickly."""
        client = self._client.with_options(timeout=self._probe_timeout, max_retries=0)
        try:
            served = list(client.models.list())
        except openai.OpenAIError as e:
            raise self._translate(e) from e
        names = tuple(m.id for m in served)
        mine = next((m for m in served if m.id == self.model), None)
        if mine is None:
            raise LLMUnavailableError(
                f"The LLM server at {self.url} serves {list(names)}, not {self.model!r}: "
                "set PAPERCHAT_LLM_MODEL to one of them."
            )
        extra = mine.model_extra or {}
        return EndpointInfo(names, extra.get("max_model_len"), extra.get("root"))

    def adopt(self, info: EndpointInfo) -> None:
        """Use what the server reported: its real context size and, if local, its tokenizer."""
        if info.max_model_len:
            self.context_tokens = int(info.max_model_len)
        if info.root and Path(info.root).is_dir():
            self._tokenizer_dir = Path(info.root)

    def count_tokens(self, text: str) -> int:
        if self._tokenizer_dir is not None:
            tokenizer = _folder_tokenizer(self._tokenizer_dir)
            return len(tokenizer.encode(text, add_special_tokens=False))
        return cl100k_tokens(text)  # close enough to trim prompts for most chat models

    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        chunks = self._create(messages, max_tokens, temperature, stream=True)
        try:
            for chunk in chunks:
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    yield delta
        except openai.OpenAIError as e:
            raise self._translate(e) from e
        finally:
            chunks.close()  # frees the connection when the caller stops reading early

    def generate(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Generation:
        response = self._create(messages, max_tokens, temperature, stream=False)
        text = response.choices[0].message.content or ""
        usage = response.usage
        if usage is None:  # some servers omit usage; estimate rather than fail
            return Generation(text, self.count_message_tokens(messages), self.count_tokens(text))
        return Generation(text, usage.prompt_tokens, usage.completion_tokens)

    def _create(
        self, messages: list[Message], max_tokens: int, temperature: float, *, stream: bool
    ) -> Any:
        try:
            return self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]  # plain role/content dicts
                max_tokens=max_tokens,
                temperature=temperature,
                seed=self._seed,
                stream=stream,
            )
        except openai.OpenAIError as e:
            raise self._translate(e) from e

    def _translate(self, e: openai.OpenAIError) -> LLMUnavailableError:
        """Turn a client error into one that says which setting to fix."""
        where = f"LLM server at {self.url}"
        if isinstance(e, openai.APITimeoutError):
            return LLMUnavailableError(
                f"No answer from the {where} within {self._timeout:g}s: check that it is up, or "
                "raise PAPERCHAT_LLM_TIMEOUT."
            )
        if isinstance(e, openai.APIConnectionError):
            return LLMUnavailableError(
                f"Cannot reach the {where} ({e.__cause__ or e}): start it, fix PAPERCHAT_LLM_URL, "
                "or set PAPERCHAT_LLM_BACKEND=local to answer with the local model."
            )
        if isinstance(e, openai.NotFoundError):
            return LLMUnavailableError(
                f"The {where} has no model {self.model!r} or no chat route ({_detail(e)}): set "
                f"PAPERCHAT_LLM_MODEL to a name listed at {self.url}/models, or fix "
                "PAPERCHAT_LLM_URL (it usually ends in /v1)."
            )
        if isinstance(e, openai.AuthenticationError | openai.PermissionDeniedError):
            return LLMUnavailableError(f"The {where} refused the key: set PAPERCHAT_LLM_API_KEY.")
        if isinstance(e, openai.BadRequestError) and _CONTEXT_OVERFLOW.search(_detail(e)):
            return ContextOverflowError(f"The prompt is too long for {self.model!r}: {_detail(e)}")
        return LLMUnavailableError(f"The {where} failed: {_detail(e)}")


def _detail(e: openai.OpenAIError) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return str(e)
