"""What an eval run compares: named configs (a retriever, Settings overrides, an optional
answer backend) read from eval/configs/presets.toml, and where gold sets and reports live.

`preset+backend` (for example `hybrid+extractive`) also answers the questions.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from paperchat.errors import ConfigError
from paperchat.settings import EXTRACTIVE, LOCAL, REPO_ROOT, RETRIEVAL_MODES, VLLM, Settings

EVAL_DIR = REPO_ROOT / "eval"
GOLD_FILE = EVAL_DIR / "gold" / "papers.jsonl"
PRESETS_FILE = EVAL_DIR / "configs" / "presets.toml"
REPORTS_DIR = EVAL_DIR / "reports"
RETRIEVERS = (*RETRIEVAL_MODES, "llamaindex")
BACKENDS = (EXTRACTIVE, LOCAL, VLLM)  # an eval names what answers (never auto), cheapest first
SEED = 0


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """What one column of the report measures."""

    name: str
    retriever: str
    backend: str | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""

    def settings_for(self, base: Settings) -> Settings:
        """The base settings with this config's overrides, answering deterministically."""
        overrides = {section: dict(values) for section, values in self.overrides.items()}
        if self.retriever in RETRIEVAL_MODES:
            overrides.setdefault("retrieval", {})["mode"] = self.retriever
        overrides.setdefault("llm", {}).update(temperature=0.0, seed=SEED)
        return apply_overrides(base, overrides, self.name)


def apply_overrides(base: Settings, overrides: dict[str, dict[str, Any]], name: str) -> Settings:
    """Settings with some fields of some sections replaced, validated like the originals."""
    update: dict[str, Any] = {}
    for section, values in overrides.items():
        current = getattr(base, section, None)
        if not isinstance(current, BaseModel) or not isinstance(values, dict):
            raise ConfigError(f"config {name!r}: unknown settings section {section!r}.")
        try:
            update[section] = type(current).model_validate({**current.model_dump(), **values})
        except ValidationError as e:
            raise ConfigError(f"config {name!r}: bad [{section}] override: {e}") from e
    return base.model_copy(update=update)


def load_presets(path: Path = PRESETS_FILE) -> dict[str, EvalConfig]:
    """The named retrieval presets of a TOML file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the eval presets ({e}).") from e
    presets: dict[str, EvalConfig] = {}
    for name, table in raw.items():
        retriever = table.get("retriever")
        if retriever not in RETRIEVERS:
            raise ConfigError(
                f"{path}: preset {name!r} has retriever {retriever!r}; "
                f"allowed: {', '.join(RETRIEVERS)}."
            )
        presets[name] = EvalConfig(
            name=name,
            retriever=retriever,
            overrides=table.get("settings", {}),
            description=table.get("description", ""),
        )
    return presets


def make_config(name: str, presets: dict[str, EvalConfig]) -> EvalConfig:
    """`preset` or `preset+backend` -> EvalConfig."""
    base_name, _, backend = name.partition("+")
    if base_name not in presets:
        raise ConfigError(
            f"Unknown eval config {base_name!r}; presets: {', '.join(presets)} "
            f"(optionally +{'/+'.join(BACKENDS)}), defined in {PRESETS_FILE}."
        )
    preset = presets[base_name]
    if not backend:
        return preset
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown answer backend {backend!r}; allowed: {', '.join(BACKENDS)}.")
    if preset.retriever == "llamaindex":
        raise ConfigError("The llamaindex baseline is retrieval-only; drop the +backend.")
    return EvalConfig(name, preset.retriever, backend, preset.overrides, preset.description)
