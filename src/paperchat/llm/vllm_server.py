"""The vLLM OpenAI-compatible server paperchat talks to in production, as a command line.

On a GPU host: `vllm_command(settings)` serves GPU_DEFAULT_MODEL under the name paperchat asks
for (`settings.llm.model`), with prefix caching on, since every RAG prompt starts with the
same system prompt. The CPU variant (`cpu=True`) is what the test service runs
(.ci/vllm-service.sh).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from paperchat.errors import MissingDependencyError
from paperchat.settings import Settings

log = logging.getLogger(__name__)

GPU_DEFAULT_MODEL = "Qwen/Qwen2.5-7B-Instruct"
GPU_MEMORY_UTILIZATION = 0.90  # vLLM's own default: weights + KV cache, leaving room for CUDA
CPU_KVCACHE_GIB = 1  # enough for a few 2k-token requests of a small model
VLLM_MODULE = "vllm.entrypoints.openai.api_server"
INSTALL_HINT = (
    "pip install 'paperchat[gpu]' on the GPU host, or run the vllm/vllm-openai docker image "
    "with the same arguments"
)


def vllm_command(
    settings: Settings,
    model: str | Path = GPU_DEFAULT_MODEL,
    *,
    host: str = "0.0.0.0",  # a server in a container must listen beyond itself
    port: int = 8000,
    max_model_len: int | None = None,
    gpu_memory_utilization: float = GPU_MEMORY_UTILIZATION,
    tensor_parallel_size: int = 1,
    cpu: bool = False,
    python: str | None = None,
) -> list[str]:
    """argv that starts vLLM serving `model` as `settings.llm.model`.

    max_model_len defaults to settings.llm.context_tokens, so what paperchat trims its prompts
    to and what the server accepts agree.
    """
    command = [python or sys.executable, "-m", VLLM_MODULE, "--model", str(model)]
    command += ["--served-model-name", settings.llm.model]
    command += ["--host", host, "--port", str(port)]
    command += ["--max-model-len", str(max_model_len or settings.llm.context_tokens)]
    command += ["--enable-prefix-caching", "--seed", str(settings.llm.seed)]
    if cpu:
        # CUDA graphs do not exist on CPU; eager mode also starts faster. float32 because
        # bf16 prefill is several times slower on CPUs without native bf16 (most of them).
        return [*command, "--enforce-eager", "--dtype", "float32"]
    return [
        *command,
        "--gpu-memory-utilization",
        str(gpu_memory_utilization),
        "--tensor-parallel-size",
        str(tensor_parallel_size),
    ]


def vllm_env(
    settings: Settings, *, cpu: bool = False, cache_root: Path | None = None
) -> dict[str, str]:
    """Environment variables for the server; the key travels here, not in argv (ps shows argv)."""
    env: dict[str, str] = {}
    if settings.llm.api_key:
        env["VLLM_API_KEY"] = settings.llm.api_key
    if cpu:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(CPU_KVCACHE_GIB)
    if cache_root is not None:
        env["VLLM_CACHE_ROOT"] = str(cache_root)
    return env


def run_vllm_server(
    settings: Settings,
    model: str | Path = GPU_DEFAULT_MODEL,
    *,
    cpu: bool = False,
    cache_root: Path | None = None,
    **options: Any,
) -> NoReturn:
    """Replace this process with the vLLM server (options as for `vllm_command`)."""
    if options.get("python") is None and importlib.util.find_spec("vllm") is None:
        raise MissingDependencyError(f"Serving the LLM needs vLLM: {INSTALL_HINT}.")
    command = vllm_command(settings, model, cpu=cpu, **options)
    log.info("Starting %s", " ".join(command))
    env = {**os.environ, **vllm_env(settings, cpu=cpu, cache_root=cache_root)}
    os.execvpe(command[0], command, env)  # argv list: no shell, nothing to quote
