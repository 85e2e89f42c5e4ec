"""Packaging tier: the wheel carries its prompts and shipped corpus, and works outside the
checkout.

The wheel is built from a copy of the sources (no build artefacts land in the checkout) and
installed with --no-deps into a folder of its own: the dependencies come from the running
environment, so nothing is downloaded. The commands then run from an unrelated folder, where
no repository path can be found by accident. The hash embedder keeps the ingest of the
shipped corpus quick; what is tested is where the files come from, not retrieval quality.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("src", "prompts", "data/corpus", "pyproject.toml", "setup.py", "README.md")
QUESTION = "Which paper trains a discriminator to detect tokens replaced by a small generator?"


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("sources")
    for name in SOURCES:
        source, target = REPO / name, copy / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(source, target, ignore=ignore)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    dist = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    _run([*pip, "-w", str(dist), str(copy)])
    (found,) = dist.glob("paperchat-*.whl")
    return found


def test_wheel_holds_every_package_the_prompts_and_the_corpus(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    src = REPO / "src"
    modules = {str(p.relative_to(src)) for p in src.rglob("*.py") if "__pycache__" not in p.parts}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    prompts = {f"paperchat/_prompts/{p.name}" for p in (REPO / "prompts").iterdir()}
    corpus = {f"paperchat/_corpus/{p.name}" for p in (REPO / "data" / "corpus").iterdir()}
    assert prompts and corpus and prompts | corpus <= names


def test_installed_wheel_ingests_and_answers_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAPERCHAT_")},
        "PYTHONPATH": str(site),
        "PAPERCHAT_DATA_DIR": str(tmp_path / "data"),
        "PAPERCHAT_EMBEDDING_MODEL": "hash",
        "HF_HUB_OFFLINE": "1",
    }

    def paperchat(*args: str) -> str:
        command = [sys.executable, "-m", "paperchat.cli", *args]
        return _run(command, cwd=elsewhere, env=env).stdout

    where = _run([sys.executable, "-c", "import paperchat; print(paperchat.__file__)"], env=env)
    assert where.stdout.startswith(str(site))
    assert "444 papers" in paperchat("ingest", "-q")  # the shipped corpus, from the wheel
    answer = json.loads(paperchat("ask", QUESTION, "--backend", "extractive", "--json"))
    assert answer["retrieved"] and answer["answer"]
    checks = {c["name"]: c for c in json.loads(paperchat("doctor", "--json"))}
    assert checks["prompts"]["ok"] and str(site) in checks["prompts"]["detail"]
