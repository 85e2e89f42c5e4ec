"""`paperchat chat` in a real pseudo-terminal (pexpect): line editing and history, Ctrl-C that
stops only the answer, slash commands; plain output when piped; `paperchat --version`.

The chat answers with the local model (SmolLM2 on CPU): slow enough to interrupt an answer
while it is being written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from live_server import copy_index
from paperchat import __version__

QUESTION = "How does ELECTRA pre-train text encoders?"
UP = "\x1b[A"
TIMEOUT = 240  # loading torch and the model on a busy two-core machine


def chat_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERCHAT_")}
    env.update(PAPERCHAT_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


@pytest.fixture
def data_dir(ingested_dir: Path, models_dir: Path, tmp_path: Path) -> Path:
    return copy_index(ingested_dir, tmp_path / "chat", models_dir)


def spawn_chat(data_dir: Path) -> pexpect.spawn:
    command = [sys.executable, "-m", "paperchat.cli", "chat", "--backend", "local"]
    child = pexpect.spawn(
        command[0],
        command[1:],
        env=chat_env(data_dir),
        cwd=str(data_dir),
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 120),
        # As a terminal starts it: a test run launched in the background inherits an ignored
        # SIGINT, and Python then installs no Ctrl-C handler at all.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    child.expect_exact("paperchat (local)")
    child.expect_exact("> ")
    return child


def interrupt_an_answer(child: pexpect.spawn, attempts: int = 3) -> bool:
    """Ask, and press Ctrl-C while the model writes; True once an answer says [stopped].

    On a busy machine a short answer may end before the signal arrives: it then lands at the
    prompt (which only clears the line), and the question is asked again.
    """
    for _ in range(attempts):
        child.sendline(QUESTION)
        child.expect_exact("Reading")  # retrieval done; the model is writing
        # The signal Ctrl-C sends, straight to the process: a busy machine's terminal may
        # hand the key over only after the answer is written.
        os.kill(child.pid, signal.SIGINT)
        if child.expect_exact(["[stopped]", "Ctrl-D or /quit to leave"]) == 0:
            return True
        child.expect_exact("> ")
    return False


def test_help_ctrl_c_during_an_answer_and_history(data_dir: Path):
    child = spawn_chat(data_dir)
    try:
        child.sendline("/help")
        child.expect_exact("/sources")  # the help, not an answer to "/help"
        child.expect_exact("> ")

        assert interrupt_an_answer(child)
        child.expect_exact("> ")  # the session goes on

        child.send(UP)  # readline recalls the last question
        child.expect_exact(QUESTION)
        child.sendintr()  # at the prompt, Ctrl-C only clears the line
        child.expect_exact("Ctrl-D or /quit to leave")
        child.sendline("/new")
        child.expect_exact("New conversation.")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    # The history survives the session, in the data dir.
    assert QUESTION in (data_dir / "chat_history").read_text()


def piped_chat(data_dir: Path, lines: str, *options: str) -> subprocess.CompletedProcess[str]:
    """`paperchat chat` (extractive) with its input piped: what a script sees."""
    return subprocess.run(
        [sys.executable, "-m", "paperchat.cli", "chat", "--backend", "extractive", *options],
        input=lines,
        capture_output=True,
        text=True,
        env=chat_env(data_dir),
        cwd=data_dir,
        timeout=TIMEOUT,
        check=False,
    )


def test_piped_chat_is_plain_text(data_dir: Path):
    result = piped_chat(data_dir, f"/help\n{QUESTION}\n/sources\n/quit\n")
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout + result.stderr  # no colour, no spinner
    assert "/sources" in result.stdout  # the help
    assert "ELECTRA" in result.stdout
    assert "https://arxiv.org/search/?query=ELECTRA" in result.stdout  # /sources links


def test_piped_chat_answers_only_from_the_filtered_papers(data_dir: Path):
    def chat(*options: str) -> subprocess.CompletedProcess[str]:
        return piped_chat(data_dir, f"{QUESTION}\n/sources\n/quit\n", *options)

    # ELECTRA's paper is in three listings, none of them this one.
    result = chat("--source", "listing-4-mar-13.txt")
    assert result.returncode == 0, result.stderr
    assert "Answering only from papers listed in listing-4-mar-13.txt." in result.stdout
    assert "query=ELECTRA" not in result.stdout  # /sources: not the ELECTRA paper
    result = chat("--source", "listing-1-mar-17.txt")
    assert "Answering only from papers listed in listing-1-mar-17.txt." in result.stdout
    assert "https://arxiv.org/search/?query=ELECTRA" in result.stdout

    bad = chat("--since", "last week")
    assert bad.returncode == 2 and "give YYYY, YYYY-MM or YYYY-MM-DD" in bad.stderr


def test_version():
    result = subprocess.run(
        [sys.executable, "-m", "paperchat.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == f"paperchat {__version__}"
