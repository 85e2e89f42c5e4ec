"""Which backend answers: the one decision the pipeline, the CLI and `doctor` share.

`auto` answers with vLLM when PAPERCHAT_LLM_URL is set and the server answers its model
list, otherwise with CPU_DEFAULT_BACKEND. The server is probed once per Pipeline; the chat
client then adopts what the probe reported instead of asking again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from paperchat.errors import ConfigError, LLMUnavailableError
from paperchat.llm.base import ChatLLM
from paperchat.llm.openai_compat import EndpointInfo, OpenAICompatibleLLM
from paperchat.settings import EXTRACTIVE, LOCAL, VLLM, LLMSettings, Settings

log = logging.getLogger(__name__)

# Without a reachable vLLM server, `auto` answers with this backend: the one that scored
# higher on the gold set (see README, "Answer backends").
CPU_DEFAULT_BACKEND = EXTRACTIVE

Probe = Callable[[], EndpointInfo]


@dataclass(frozen=True, slots=True)
class BackendChoice:
    """The backend that answers, and what the endpoint said (or why it is not used)."""

    requested: str  # auto | vllm | local | extractive
    backend: str  # vllm | local | extractive
    endpoint: EndpointInfo | None = None  # the server's own report, when it answered
    problem: str = ""  # why the endpoint is not usable (now); empty when it is

    @property
    def reason(self) -> str:
        if self.backend == VLLM and self.endpoint is not None:
            return f"vllm: the server serves {', '.join(self.endpoint.models)}"
        if self.requested == self.backend:
            return f"{self.backend}: asked for"
        return f"{self.backend}: {self.problem or 'no PAPERCHAT_LLM_URL'}"


def choose_backend(
    config: LLMSettings, requested: str | None = None, probe: Probe | None = None
) -> BackendChoice:
    """Decide the backend for `requested` (default: the setting); probes the server at most once.

    An explicit vllm backend is kept even when the server does not answer yet: a server still
    starting works once it is up, and until then every request says what failed.
    """
    requested = requested or config.backend
    if requested in (LOCAL, EXTRACTIVE):
        return BackendChoice(requested, requested)
    if not config.url:
        if requested == VLLM:
            raise ConfigError("The vllm backend needs PAPERCHAT_LLM_URL, e.g. http://vllm:8000/v1.")
        return BackendChoice(requested, CPU_DEFAULT_BACKEND, problem="PAPERCHAT_LLM_URL is unset")
    try:
        info = (probe or OpenAICompatibleLLM(config).probe)()
    except LLMUnavailableError as e:
        if requested == VLLM:
            log.warning("%s", e)
            return BackendChoice(requested, VLLM, problem=str(e))
        log.warning("%s Answering with %s instead.", e, CPU_DEFAULT_BACKEND)
        return BackendChoice(requested, CPU_DEFAULT_BACKEND, problem=str(e))
    log.info("Using %s at %s", config.model, config.url)
    return BackendChoice(requested, VLLM, endpoint=info)


def make_llm(choice: BackendChoice, settings: Settings) -> ChatLLM | None:
    """The chat model for a decided backend; None for the extractive backend."""
    if choice.backend == EXTRACTIVE:
        return None
    if choice.backend == LOCAL:
        from paperchat.llm.local import LocalLLM  # transformers loads only for this backend

        return LocalLLM(settings.llm, settings.models_dir)
    llm = OpenAICompatibleLLM(settings.llm)
    if choice.endpoint is not None:
        llm.adopt(choice.endpoint)
    return llm


def cached_probe(config: LLMSettings) -> Probe:
    """A probe that asks the server once and then repeats its answer (or its error)."""
    outcome: list[EndpointInfo | LLMUnavailableError] = []

    def probe() -> EndpointInfo:
        if not outcome:
            try:
                outcome.append(OpenAICompatibleLLM(config).probe())
            except LLMUnavailableError as e:
                outcome.append(e)
        if isinstance(outcome[0], LLMUnavailableError):
            raise outcome[0]
        return outcome[0]

    return probe
