"""A small chat model run in-process by transformers on CPU (the `local` backend)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paperchat.errors import LLMUnavailableError
from paperchat.llm.base import ChatLLM, ContextOverflowError, Generation, Message
from paperchat.llm.gguf import DEFAULT_LOCAL_DIRNAME, local_model_folder
from paperchat.settings import LLMSettings

log = logging.getLogger(__name__)

MAX_DEFAULT_THREADS = 8  # a 135M model gains nothing from more; leave cores to the server


class LocalLLM(ChatLLM):
    """A small chat model run by transformers on CPU, one request at a time.

    Loads on first use. Requests take turns on the one model: interleaved generate calls
    would only slow each other down on a CPU.
    """

    name = "local"

    def __init__(self, config: LLMSettings, models_dir: Path) -> None:
        self.context_tokens = config.context_tokens
        self.model = str(config.local_model or DEFAULT_LOCAL_DIRNAME)
        self._config = config
        self._models_dir = models_dir
        self._load_lock = threading.Lock()
        self._turn = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None  # (model, tokenizer)

    def count_tokens(self, text: str) -> int:
        _, tokenizer = self._load()
        return len(tokenizer.encode(text, add_special_tokens=False))

    def count_message_tokens(self, messages: list[Message]) -> int:
        return int(self._encode(messages)["input_ids"].shape[1])  # exact: the chat template

    def generate(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Generation:
        model, tokenizer = self._load()
        request = self._request(messages, max_tokens, temperature)
        prompt_tokens = int(request["input_ids"].shape[1])
        with self._my_turn():
            output = self._run(model, request)
        new = output[0, prompt_tokens:]
        text = tokenizer.decode(new, skip_special_tokens=True)
        return Generation(text, prompt_tokens, int(new.shape[0]))

    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        model, tokenizer = self._load()
        kwargs = self._request(messages, max_tokens, temperature)
        streamer = TextIteratorStreamer(
            tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=self._config.timeout
        )
        stop = threading.Event()  # set when the caller stops reading: frees the model early
        kwargs["streamer"] = streamer
        kwargs["stopping_criteria"] = StoppingCriteriaList([_StopWhenSet(stop)])
        errors: list[BaseException] = []
        with self._my_turn():
            worker = threading.Thread(
                target=self._run_streaming, args=(model, kwargs, streamer, errors), daemon=True
            )
            worker.start()
            try:
                yield from _deltas(streamer, self._config.timeout)
            finally:
                stop.set()
                worker.join()
        if errors:
            raise LLMUnavailableError(f"The local model failed: {errors[0]}") from errors[0]

    def _load(self) -> tuple[Any, Any]:
        with self._load_lock:
            if self._loaded is None:
                folder = local_model_folder(self._config, self._models_dir)
                self._loaded = _load_folder(folder, self._config)
            return self._loaded

    def _encode(self, messages: list[Message]) -> Any:
        _, tokenizer = self._load()
        return tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def _request(
        self, messages: list[Message], max_tokens: int, temperature: float
    ) -> dict[str, Any]:
        """Arguments of model.generate: the chat through its template, and how to sample."""
        _, tokenizer = self._load()
        inputs = self._encode(messages)
        room = self.context_tokens - int(inputs["input_ids"].shape[1])
        if room <= 0:
            raise ContextOverflowError(
                f"The prompt has {inputs['input_ids'].shape[1]} tokens, over the local model's "
                f"context of {self.context_tokens} (PAPERCHAT_LLM_CONTEXT_TOKENS): use fewer "
                "sources."
            )
        request: dict[str, Any] = {
            **inputs,
            "max_new_tokens": min(max_tokens, room),  # as vLLM does: cut short, not refused
            "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
            "do_sample": temperature > 0,  # temperature 0 means greedy, as in vLLM
        }
        if temperature > 0:
            request["temperature"] = temperature
        return request

    @contextmanager
    def _my_turn(self) -> Iterator[None]:
        if not self._turn.acquire(timeout=self._config.timeout):
            raise LLMUnavailableError(
                f"The local model stayed busy for {self._config.timeout:g}s: retry, raise "
                "PAPERCHAT_LLM_TIMEOUT, or serve the model with vLLM (PAPERCHAT_LLM_URL)."
            )
        try:
            yield
        finally:
            self._turn.release()

    def _run(self, model: Any, kwargs: dict[str, Any]) -> Any:
        import torch

        # Seeded inside the turn so the same request gives the same sample every time.
        torch.manual_seed(self._config.seed)
        with torch.inference_mode():
            return model.generate(**kwargs)

    def _run_streaming(
        self, model: Any, kwargs: dict[str, Any], streamer: Any, errors: list[BaseException]
    ) -> None:
        try:
            self._run(model, kwargs)
        except Exception as e:  # reported by the reading thread, which would otherwise hang
            errors.append(e)
            streamer.end()


def _deltas(streamer: Any, timeout: float) -> Iterator[str]:
    import queue

    try:
        yield from (piece for piece in streamer if piece)
    except queue.Empty as e:
        raise LLMUnavailableError(
            f"The local model produced nothing for {timeout:g}s: raise PAPERCHAT_LLM_TIMEOUT."
        ) from e


class _StopWhenSet:
    """A transformers stopping criterion that ends generation once an event is set."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
        return self.event.is_set()


def _load_folder(folder: Path, config: LLMSettings) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(config.threads or min(os.cpu_count() or 1, MAX_DEFAULT_THREADS))
    started = time.monotonic()
    # The folder is stored in bf16; float32 compute is the fast choice on most CPUs.
    dtype = getattr(torch, config.local_dtype)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model.eval()
    log.info("Loaded %s in %.1fs", folder, time.monotonic() - started)
    return model, tokenizer
