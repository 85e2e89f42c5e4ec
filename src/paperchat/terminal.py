"""`paperchat chat`: the interactive terminal chat.

Line editing and a history that survives restarts (readline, saved in the data dir), slash
commands, Ctrl-C that stops the answer being written (the model stops too) but keeps the
conversation, a spinner on stderr while models load and papers are searched, and colour only
when the output is a terminal.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from paperchat.answering import Answerer, AnswerEvent, AnswerOptions, Delta, Done, Retrieved
from paperchat.conversation import assistant_content
from paperchat.errors import PaperchatError
from paperchat.index import Filters
from paperchat.prompts import MARKER
from paperchat.records import Answer, Turn

HISTORY_FILE = "chat_history"
HISTORY_LENGTH = 1000
PROMPT = "> "
PASSAGE_CHARS = 300
SPINNER_FRAMES = "|/-\\"
SPINNER_INTERVAL = 0.1

HELP = """Ask a question about the papers; follow-up questions keep the conversation.
  /sources  the papers cited by the last answer, with the passages and links
  /new      start a new conversation (forget the earlier questions)
  /help     this help
  /quit     leave (or Ctrl-D)
Ctrl-C stops the answer being written; Up and Down recall earlier questions."""


class Style:
    """ANSI colours, or nothing when the stream is not a terminal (piped, redirected)."""

    def __init__(self, stream: TextIO) -> None:
        self.on = stream.isatty()

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def cite(self, text: str) -> str:
        return self._wrap("36", text)

    def error(self, text: str) -> str:
        return self._wrap("31", text)


class Spinner:
    """A spinner with a label on a terminal's stderr; silent when stderr is not a terminal."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.label = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def running(self, label: str) -> Iterator[Spinner]:
        self.start(label)
        try:
            yield self
        finally:
            self.stop()

    def start(self, label: str) -> None:
        self.label = label
        if not self.stream.isatty() or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.stream.write("\r\033[K")  # clear the spinner's line
        self.stream.flush()

    def _spin(self) -> None:
        for frame in itertools.cycle(SPINNER_FRAMES):
            self.stream.write(f"\r{frame} {self.label}")
            self.stream.flush()
            if self._stop.wait(SPINNER_INTERVAL):
                return


def _readline() -> object | None:
    try:
        import readline  # not on every platform; plain input() then
    except ImportError:
        return None
    return readline


@dataclass
class ChatSession:
    """One terminal conversation over an Answerer."""

    answerer: Answerer
    history_path: Path
    k: int | None = None
    filters: Filters | None = None  # every answer of the session comes from these papers
    out: TextIO = sys.stdout
    read: Callable[[str], str] = input
    turns: list[Turn] = field(default_factory=list)
    last: Answer | None = None

    def __post_init__(self) -> None:
        self.style = Style(self.out)
        self.spinner = Spinner()
        self.commands: dict[str, Callable[[], bool]] = {
            "/help": self._help,
            "/new": self._new,
            "/sources": self._sources,
            "/quit": self._quit,
            "/exit": self._quit,
        }

    def run(self) -> int:
        self._load_history()
        self._print(
            self.style.bold(f"paperchat ({self.answerer.backend})")
            + self.style.dim("  /help for commands, Ctrl-D to quit")
        )
        if self.filters is not None and (only := describe(self.filters)):
            self._print(self.style.dim(f"Answering only from papers {only}."))
        while (line := self._ask()) is not None:
            if line and not self._handle(line):
                break
        return 0

    # -- input -------------------------------------------------------------------------------

    def _ask(self) -> str | None:
        """The next line; None at end of input. Ctrl-C at the prompt only clears the line."""
        while True:
            try:
                line = self.read(f"\n{PROMPT}").strip()
            except EOFError:
                self._print("")
                return None
            except KeyboardInterrupt:
                self._print(self.style.dim("^C (Ctrl-D or /quit to leave)"))
                continue
            if line:
                self._save_history()  # after every line: a killed terminal loses nothing
            return line

    def _handle(self, line: str) -> bool:
        """False when the chat should end."""
        if line.startswith("/"):
            command = self.commands.get(line.split()[0].lower())
            if command is None:
                self._print(f"Unknown command {line.split()[0]}; /help lists the commands.")
                return True
            return command()
        self._answer(line)
        return True

    # -- commands ----------------------------------------------------------------------------

    def _help(self) -> bool:
        self._print(HELP)
        return True

    def _new(self) -> bool:
        self.turns.clear()
        self.last = None
        self._print(self.style.dim("New conversation."))
        return True

    def _quit(self) -> bool:
        return False

    def _sources(self) -> bool:
        if self.last is None or not self.last.citations:
            self._print("The last answer cites no papers.")
            return True
        for c in self.last.citations:
            passage = " ".join(c.passage.split())
            if len(passage) > PASSAGE_CHARS:
                passage = passage[:PASSAGE_CHARS] + "…"
            self._print(f"{self.style.cite(f'[{c.n}]')} {self.style.bold(c.title)}")
            self._print(f"    {passage}")
            self._print(self.style.dim(f"    {c.link}"))
        return True

    # -- answering ---------------------------------------------------------------------------

    def _answer(self, question: str) -> None:
        options = AnswerOptions(k=self.k, filters=self.filters)
        events = self.answerer.stream(question, self.turns, options)
        try:
            answer = self._show(events)
        except KeyboardInterrupt:
            events.close()  # stops the model; the conversation so far is kept
            self.spinner.stop()
            self._print(self.style.dim("\n[stopped]"))
            return
        except PaperchatError as e:
            self.spinner.stop()
            sys.stderr.write(self.style.error(f"Error: {e}") + "\n")
            return
        self.last = answer
        # Fed back exactly as an API client would send it: text, markers, Sources.
        self.turns += [Turn("user", question), Turn("assistant", assistant_content(answer))]

    def _show(self, events: Generator[AnswerEvent, None, None]) -> Answer:
        self.spinner.start("Searching the papers…")
        for event in events:
            if isinstance(event, Retrieved):
                self.spinner.label = f"Reading {len(event.hits)} papers…"
            elif isinstance(event, Delta):
                self.spinner.stop()
                self.out.write(self._colour_markers(event.text))
                self.out.flush()
            elif isinstance(event, Done):
                self.spinner.stop()
                self._finish(event.answer)
                return event.answer
        raise PaperchatError("The answer stream ended early; try again.")

    def _finish(self, answer: Answer) -> None:
        self._print("")
        if answer.citations:
            self._print("")
            for c in answer.citations:
                self._print(f"{self.style.cite(f'[{c.n}]')} {c.title}")
            self._print(self.style.dim("/sources shows the passages and links."))

    def _colour_markers(self, text: str) -> str:
        if not self.style.on:
            return text
        return MARKER.sub(lambda m: self.style.cite(m.group(0)), text)

    # -- history file ------------------------------------------------------------------------

    def _load_history(self) -> None:
        readline = _readline()
        if readline is None:
            return
        readline.set_history_length(HISTORY_LENGTH)  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):  # no history yet, or unreadable: start empty
            readline.read_history_file(self.history_path)  # type: ignore[attr-defined]

    def _save_history(self) -> None:
        readline = _readline()
        if readline is None:
            return
        try:
            self.history_path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(self.history_path)  # type: ignore[attr-defined]
        except OSError as e:
            sys.stderr.write(f"Could not save the chat history to {self.history_path}: {e}\n")

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def describe(filters: Filters) -> str:
    """The filters in words: "from 2024-01-01, in cs.CL, by Clark"; "" when there are none."""
    parts = []
    if filters.date_from:
        parts.append(f"from {filters.date_from}")
    if filters.date_to:
        parts.append(f"until {filters.date_to}")
    for label, values in (
        ("in", filters.categories),
        ("by", filters.authors),
        ("listed in", filters.sources),
    ):
        if values:
            parts.append(f"{label} {' or '.join(values)}")
    return ", ".join(parts)


def chat(
    answerer_factory: Callable[[], Answerer],
    data_dir: Path,
    k: int | None,
    filters: Filters | None = None,
) -> int:
    """Load the answerer under a spinner, then chat until /quit or Ctrl-D."""
    spinner = Spinner()
    with spinner.running("Loading the models…"):
        answerer = answerer_factory()
        answerer.count_tokens("")  # loads a local model now rather than at the first question
    return ChatSession(answerer, data_dir / HISTORY_FILE, k=k, filters=filters).run()
