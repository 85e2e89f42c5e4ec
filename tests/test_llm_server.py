"""The vLLM command lines: production (GPU) and the CPU test service agree on the flags."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from paperchat.errors import MissingDependencyError
from paperchat.llm.vllm_server import (
    GPU_DEFAULT_MODEL,
    run_vllm_server,
    vllm_command,
    vllm_env,
)
from paperchat.settings import LLMSettings, Settings

SERVICE_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "vllm-service.sh"


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_gpu_command_serves_the_default_model_for_rag(tmp_path):
    settings = Settings(data_dir=tmp_path, llm=LLMSettings(model="qwen", context_tokens=8192))
    command = vllm_command(settings, port=9000, tensor_parallel_size=2)
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert _flag(command, "--model") == GPU_DEFAULT_MODEL
    assert _flag(command, "--served-model-name") == "qwen"
    assert _flag(command, "--max-model-len") == "8192"
    assert _flag(command, "--port") == "9000"
    assert _flag(command, "--tensor-parallel-size") == "2"
    assert "--gpu-memory-utilization" in command
    assert "--enable-prefix-caching" in command
    assert "--enforce-eager" not in command


def test_cpu_command_is_eager_and_has_no_gpu_flags(tmp_path):
    command = vllm_command(Settings(data_dir=tmp_path), tmp_path / "model", cpu=True)
    assert "--enforce-eager" in command
    assert "--gpu-memory-utilization" not in command
    assert vllm_env(Settings(data_dir=tmp_path), cpu=True)["VLLM_CPU_KVCACHE_SPACE"] == "1"


def test_api_key_goes_to_the_environment_not_argv(tmp_path):
    settings = Settings(data_dir=tmp_path, llm=LLMSettings(api_key="secret"))
    assert "secret" not in vllm_command(settings)
    assert vllm_env(settings)["VLLM_API_KEY"] == "secret"


def test_ci_service_uses_the_cpu_command_flags(tmp_path):
    script = SERVICE_SCRIPT.read_text()
    command = vllm_command(Settings(data_dir=tmp_path), "MODEL", cpu=True)
    for flag in (a for a in command if a.startswith("--") and a not in {"--host", "--port"}):
        assert flag in script


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_running_without_vllm_says_how_to_install(tmp_path):
    with pytest.raises(MissingDependencyError, match=r"pip install 'paperchat\[gpu\]'"):
        run_vllm_server(Settings(data_dir=tmp_path))
