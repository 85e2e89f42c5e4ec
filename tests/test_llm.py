"""Contract tests run over every real chat backend, plus model-folder and factory behaviour.

The local backend always runs (SmolLM2-135M on CPU). The vLLM backend runs when
PAPERCHAT_TEST_VLLM_URL points at a server (`bash .ci/vllm-service.sh start` gives one on
http://127.0.0.1:8011/v1); with PAPERCHAT_REQUIRE_VLLM=1 a missing server fails the run.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from paperchat.errors import ConfigError, LLMUnavailableError
from paperchat.llm import ChatLLM, ContextOverflowError, OpenAICompatibleLLM
from paperchat.llm import gguf as gguf_module
from paperchat.llm.choice import CPU_DEFAULT_BACKEND, cached_probe, choose_backend, make_llm
from paperchat.llm.gguf import (
    CONVERSION_MARKER,
    DEFAULT_LOCAL_DIRNAME,
    convert_gguf_to_hf,
    local_model_folder,
    prepare_local_model,
)
from paperchat.llm.local import LocalLLM
from paperchat.settings import LLMSettings, Settings

QUESTION = [
    {"role": "system", "content": "You answer questions about research papers."},
    {"role": "user", "content": "What is retrieval-augmented generation? Answer briefly."},
]
MAX_TOKENS = 16


@pytest.fixture(scope="session")
def local_llm(models_dir) -> LocalLLM:
    return LocalLLM(LLMSettings(backend="local"), models_dir)


def _absent(reason: str) -> None:
    if os.environ.get("PAPERCHAT_REQUIRE_VLLM") == "1":
        pytest.fail(f"PAPERCHAT_REQUIRE_VLLM=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def vllm_config() -> LLMSettings:
    url = os.environ.get("PAPERCHAT_TEST_VLLM_URL")
    if not url:
        _absent("PAPERCHAT_TEST_VLLM_URL is not set (bash .ci/vllm-service.sh start)")
    return LLMSettings(backend="vllm", url=url, model="smollm2", timeout=60, retries=0)


@pytest.fixture(scope="session")
def vllm_llm(vllm_config) -> OpenAICompatibleLLM:
    llm = OpenAICompatibleLLM(vllm_config)
    try:
        llm.adopt(llm.probe())
    except LLMUnavailableError as e:
        _absent(str(e))
    return llm


@pytest.fixture(params=["local", pytest.param("vllm", marks=pytest.mark.vllm)])
def llm(request) -> ChatLLM:
    return request.getfixturevalue(f"{request.param}_llm")


def _refused_url() -> str:
    """A local URL nothing listens on: the connection is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- Contract: every backend ---------------------------------------------------------------


def test_generate_returns_text_and_token_counts(llm):
    generation = llm.generate(QUESTION, max_tokens=MAX_TOKENS, temperature=0)
    assert generation.text.strip()
    assert generation.prompt_tokens > 10
    assert 0 < generation.completion_tokens <= MAX_TOKENS


def test_stream_yields_several_deltas_matching_generate(llm):
    deltas = list(llm.stream(QUESTION, max_tokens=MAX_TOKENS, temperature=0))
    assert len(deltas) >= 3
    assert all(isinstance(d, str) and d for d in deltas)
    greedy = llm.generate(QUESTION, max_tokens=MAX_TOKENS, temperature=0)
    assert "".join(deltas).strip() == greedy.text.strip()


def test_sampling_with_temperature_gives_text(llm):
    generation = llm.generate(QUESTION, max_tokens=MAX_TOKENS, temperature=0.8)
    assert generation.text.strip()


def test_count_tokens_grows_with_text(llm):
    words = ["Dense", "retrieval", "embeds", "queries", "into", "one", "vector", "space"]
    counts = [llm.count_tokens(" ".join(words[:n])) for n in range(len(words) + 1)]
    assert counts[0] == 0
    assert counts == sorted(counts)
    assert counts[-1] > counts[1]


def test_count_message_tokens_covers_every_message(llm):
    total = llm.count_message_tokens(QUESTION)
    assert total >= sum(llm.count_tokens(m["content"]) for m in QUESTION)


def test_prompt_over_the_context_raises_context_overflow(llm):
    long = [{"role": "user", "content": "word " * (llm.context_tokens + 100)}]
    with pytest.raises(ContextOverflowError):
        llm.generate(long, max_tokens=MAX_TOKENS, temperature=0)


# --- OpenAI-compatible client ----------------------------------------------------------------


def test_unreachable_endpoint_names_the_url_and_setting():
    url = _refused_url()
    llm = OpenAICompatibleLLM(LLMSettings(url=url, timeout=2, retries=0, probe_timeout=1))
    for call in (
        lambda: llm.generate(QUESTION, max_tokens=4, temperature=0),
        lambda: list(llm.stream(QUESTION, max_tokens=4, temperature=0)),
        llm.probe,
    ):
        with pytest.raises(LLMUnavailableError) as info:
            call()
        assert url in str(info.value)
        assert "PAPERCHAT_LLM_URL" in str(info.value)


def test_vllm_backend_without_url_is_a_config_error():
    with pytest.raises(ConfigError, match="PAPERCHAT_LLM_URL"):
        choose_backend(LLMSettings(backend="vllm"))


@pytest.mark.vllm
def test_unknown_model_names_the_model_setting(vllm_llm, vllm_config):
    wrong = OpenAICompatibleLLM(vllm_config.model_copy(update={"model": "no-such-model"}))
    with pytest.raises(LLMUnavailableError, match="PAPERCHAT_LLM_MODEL"):
        wrong.probe()
    with pytest.raises(LLMUnavailableError, match="PAPERCHAT_LLM_MODEL"):
        wrong.generate(QUESTION, max_tokens=4, temperature=0)


@pytest.mark.vllm
def test_auto_backend_uses_a_reachable_server(vllm_llm, vllm_config, tmp_path):
    auto = vllm_config.model_copy(update={"backend": "auto"})
    choice = choose_backend(auto)
    assert choice.backend == "vllm" and choice.endpoint is not None
    llm = make_llm(choice, Settings(data_dir=tmp_path, llm=auto))
    assert isinstance(llm, OpenAICompatibleLLM)
    assert llm.context_tokens == vllm_llm.context_tokens  # adopted from /v1/models


# --- Factory -------------------------------------------------------------------------------


def test_auto_backend_falls_back_to_the_cpu_default_when_the_server_is_down():
    url = _refused_url()
    choice = choose_backend(LLMSettings(backend="auto", url=url, probe_timeout=1))
    assert choice.backend == CPU_DEFAULT_BACKEND == "extractive"
    assert url in choice.problem


def test_explicit_vllm_backend_is_kept_while_its_server_is_down(tmp_path):
    config = LLMSettings(backend="vllm", url=_refused_url(), probe_timeout=1)
    choice = choose_backend(config)
    assert choice.backend == "vllm" and choice.endpoint is None and choice.problem
    assert isinstance(make_llm(choice, Settings(data_dir=tmp_path, llm=config)), ChatLLM)


def test_server_is_probed_once_per_probe_cache(monkeypatch):
    calls = []

    def probe(self):
        calls.append(self.url)
        raise LLMUnavailableError("down")

    monkeypatch.setattr(OpenAICompatibleLLM, "probe", probe)
    config = LLMSettings(url="http://127.0.0.1:9/v1")
    shared = cached_probe(config)
    assert choose_backend(config, "auto", shared).backend == "extractive"
    assert choose_backend(config, "vllm", shared).backend == "vllm"
    assert len(calls) == 1


def test_auto_without_url_is_the_cpu_default_and_extractive_has_no_llm(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert choose_backend(settings.llm).backend == CPU_DEFAULT_BACKEND
    assert make_llm(choose_backend(settings.llm, "extractive"), settings) is None
    assert isinstance(make_llm(choose_backend(settings.llm, "local"), settings), LocalLLM)


# --- Local model -----------------------------------------------------------------------------


def test_stream_closed_early_frees_the_model(local_llm):
    stream = local_llm.stream(QUESTION, max_tokens=64, temperature=0)
    assert next(stream)
    stream.close()
    assert local_llm.generate(QUESTION, max_tokens=4, temperature=0).text


def test_concurrent_requests_take_turns(local_llm):
    expected = local_llm.generate(QUESTION, max_tokens=MAX_TOKENS, temperature=0).text
    results: list[str] = []

    def ask() -> None:
        results.append("".join(local_llm.stream(QUESTION, max_tokens=MAX_TOKENS, temperature=0)))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.strip() for r in results] == [expected.strip()] * 2


def test_answer_that_would_overflow_the_context_is_cut_short(models_dir):
    # As vLLM does: a prompt that fits gets the room left, not an error. A small context
    # keeps the CPU prefill cheap.
    small = LocalLLM(LLMSettings(context_tokens=256), models_dir)
    filler = small.context_tokens - 30 - small.count_message_tokens(QUESTION[:1])
    near_full = [QUESTION[0], {"role": "user", "content": "word " * filler}]
    generation = small.generate(near_full, max_tokens=200, temperature=0)
    assert generation.prompt_tokens + generation.completion_tokens <= small.context_tokens


def test_converted_folder_is_reused(models_dir, tmp_path, monkeypatch):
    folder = local_model_folder(LLMSettings(), models_dir)
    assert folder == models_dir / DEFAULT_LOCAL_DIRNAME
    assert (folder / "config.json").is_file()
    stamp = (folder / CONVERSION_MARKER).stat().st_mtime_ns

    def no_conversion(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(gguf_module, "convert_gguf_to_hf", no_conversion)
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir()
    settings.models_dir.symlink_to(models_dir, target_is_directory=True)
    assert prepare_local_model(settings) == settings.models_dir / DEFAULT_LOCAL_DIRNAME
    assert (folder / CONVERSION_MARKER).stat().st_mtime_ns == stamp


def test_failed_conversion_leaves_no_folder(tmp_path, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")

    def half_written(source, folder):
        (folder / "config.json").write_text("{}")
        raise RuntimeError("killed")

    monkeypatch.setattr(gguf_module, "_write_bf16_folder", half_written)
    out = tmp_path / "models" / "model-bf16"
    with pytest.raises(RuntimeError):
        convert_gguf_to_hf(gguf, out)
    assert list(out.parent.iterdir()) == []


def test_local_model_setting_accepts_gguf_files_and_folders(tmp_path, monkeypatch):
    gguf = tmp_path / "My-Model.Q8_0.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(gguf_module, "convert_gguf_to_hf", lambda source, out: out)
    models = tmp_path / "models"
    converted = local_model_folder(LLMSettings(local_model=gguf), models)
    assert converted == models / "my-model-q8-0-bf16"
    assert local_model_folder(LLMSettings(local_model=tmp_path), models) == tmp_path
    with pytest.raises(ConfigError, match="PAPERCHAT_LLM_LOCAL_MODEL"):
        local_model_folder(LLMSettings(local_model=tmp_path / "weights.bin"), models)
