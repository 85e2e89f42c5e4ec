"""Every `paperchat ...` command the README names exists: its `--help` exits 0."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paperchat.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
# `paperchat` followed by lower-case words: the subcommand path, up to its first argument.
COMMAND = re.compile(r"(?:^|[\s`/])paperchat((?: [a-z][a-z-]*)+)")


def documented_commands() -> list[tuple[str, ...]]:
    """Command paths in code blocks and inline code spans of the README."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S)
    spans = re.findall(r"`([^`\n]*paperchat [^`\n]*)`", text)
    found = {tuple(m.split()) for chunk in [*blocks, *spans] for m in COMMAND.findall(chunk)}
    return sorted(found)


def test_readme_names_the_main_commands():
    names = {c[0] for c in documented_commands()}
    assert {"ingest", "search", "ask", "chat", "serve", "eval", "llm", "doctor"} <= names


@pytest.mark.parametrize("words", documented_commands(), ids=" ".join)
def test_documented_command_has_help(words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == 0, capsys.readouterr().err
