"""The chat UI: a Gradio app mounted at / that answers through the same `ChatService` as the API.

Nothing here answers or checks anything: it renders the service's events (retrieved papers,
checked text, the final answer with its source cards). Gradio's ChatInterface keeps the
conversations in the browser (New / Delete / pick an earlier one) and its Stop button closes
the answer's generator, which stops the model. Other panels (tabs) mount through `Panel`:
`mount_ui` mounts the library (upload, collection view) as the first of them. The chat's
filter controls (date range, categories, source files) restrict the papers it answers from.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Protocol

import gradio as gr
from fastapi import FastAPI

from paperchat.answering import AnswerOptions, Delta, Done, Retrieved
from paperchat.errors import PaperchatError
from paperchat.records import Answer, Turn
from paperchat.server.access import same_secret
from paperchat.server.cards import answer_html, friendly, hits_html, plain, sources_html
from paperchat.server.render import inert
from paperchat.server.serving import ChatService
from paperchat.server.ui_library import (
    LibraryPanel,
    make_filters,
    render_filters,
    source_choices,
)
from paperchat.server.uploads import UploadJobs
from paperchat.settings import AUTO, BACKENDS, RETRIEVAL_MODES, Settings

log = logging.getLogger(__name__)

# Questions the shipped corpus answers; they show what kind of question works.
EXAMPLES = (
    "How does ELECTRA's replaced token detection differ from masked language modeling?",
    "How can speech-text pre-training scale without parallel speech-text data?",
    "Which papers pre-train vision-language models for medical images?",
    "What is DeBERTaV3 and how does it improve on DeBERTa?",
)
MAX_K = 20
CONCURRENT_CHATS = 16  # answers are serialized per model anyway; this bounds waiting threads
OFFERED = tuple(b for b in BACKENDS if b != AUTO)  # the UI names a concrete backend
INTRO = (
    "## paperchat\n"
    "Ask about the research papers in the collection. Every answer cites the papers it used: "
    "click a [n] to see its source. Conversations stay in this browser. Programs can use the "
    "OpenAI-compatible API at `/v1` ([API docs](/docs))."
)
HITS_PLACEHOLDER = "<p>Papers found for the question appear here.</p>"

# LaTeX is rendered from the page's text after Markdown, so escaping cannot stop it: a title
# holding $$\rule{5000px}{5000px}$$ would draw a box over the page. Papers need no maths here.
NO_LATEX: list[dict[str, str | bool]] = []

CSS = """
#chat a.cite { text-decoration: none; font-weight: 600; padding: 0 1px; }
#chat .unsupported { opacity: .6; text-decoration: underline dotted; }
#chat .source { margin: .5em 0; padding: .4em .6em; border-left: 3px solid #8884;
  border-radius: 4px; }
#chat .source.flash { background: #ffd70033; }
#chat .source .n { font-weight: 600; }
.bar { font-family: monospace; white-space: nowrap; opacity: .8; font-size: .85em; }
#hits ol { padding-left: 1.4em; }
#hits li { margin-bottom: .5em; }
#status { min-height: 1.5em; }
@media (max-width: 640px) {
  #hits-column { min-width: 100% !important; }
  .bar { display: block; }
}
"""

# A [n] link scrolls to its source card in the same message list (and flashes it) rather
# than following the link: the chat opens links in new tabs.
HEAD = """
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a.cite");
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const card = document.getElementById(link.getAttribute("href").slice(1));
  if (!card) return;
  card.scrollIntoView({behavior: "smooth", block: "center"});
  card.classList.add("flash");
  setTimeout(() => card.classList.remove("flash"), 2000);
}, true);
</script>
"""

Message = dict[str, Any]


class Panel(Protocol):
    """Another tab of the UI (an upload form, a collection view): mounted after the chat."""

    title: str

    def build(self, service: ChatService, settings: Settings) -> None:
        """Create the tab's components and events (called inside `gr.Tab(title)`)."""


@dataclass(slots=True)
class _Exchange:
    """The UI's view of one question while it is answered."""

    answer_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    hits: str = HITS_PLACEHOLDER
    text: str = ""


class ChatUI:
    """The UI's event handlers: plain Python over ChatService, testable without a browser."""

    def __init__(
        self,
        service: ChatService,
        default_backend: str,
        notice: Callable[[], str | None] | None = None,
    ) -> None:
        self.service = service
        self.default_backend = default_backend
        self.notice = notice or (lambda: None)  # e.g. "an upload is still being indexed"

    def respond(
        self,
        question: str,
        history: list[Message],
        k: float,
        mode: str,
        backend: str,
        since: str = "",
        until: str = "",
        categories: str = "",
        source_files: list[str] | None = None,
    ) -> Iterator[tuple[list[Message], str, str]]:
        """Stream one answer: yields (assistant messages, retrieved panel, status line)."""
        question = (question or "").strip()
        if not question:
            yield [_assistant("Type a question first.")], gr.skip(), ""
            return
        ex = _Exchange()
        yield [_assistant("…")], gr.skip(), "Searching the papers…"
        turns = history_turns(history)
        try:
            filters = make_filters(since, until, categories, source_files)  # a bad date raises
            options = AnswerOptions(k=int(k), mode=mode, filters=filters)
            events = self.service.converse(question, turns, options, backend=backend or None)
            with closing(events):  # Stop closes this generator: the model stops with it
                yield from self._render(events, ex, backend)
        except PaperchatError as e:
            yield [_assistant(f"⚠️ {inert(friendly(str(e)))}")], ex.hits, "No answer."
        except Exception:  # the page must show a message, never a stack trace
            log.exception("chat UI request failed")
            yield [_assistant("⚠️ The server failed to answer; try again.")], ex.hits, ""

    def _render(
        self, events: Iterator[Any], ex: _Exchange, backend: str
    ) -> Iterator[tuple[list[Message], str, str]]:
        writing = f"Writing the answer ({backend or self.default_backend})…"
        for event in events:
            if isinstance(event, Retrieved):
                ex.hits = hits_html(event.hits)
                yield [_assistant("…")], ex.hits, writing
            elif isinstance(event, Delta):
                ex.text += event.text
                yield [_assistant(answer_html(ex.text, ex.answer_id, []))], ex.hits, writing
            elif isinstance(event, Done):
                status = _timing(event.answer, backend)
                notice = self.notice()
                yield (
                    self._finish(event.answer, ex),
                    ex.hits,
                    f"{status} {inert(notice)}" if notice else status,  # names a file
                )

    def _finish(self, answer: Answer, ex: _Exchange) -> list[Message]:
        cited = [c.n for c in answer.citations]
        messages = [_assistant(answer_html(answer.text, ex.answer_id, cited, answer.unsupported))]
        if answer.citations:
            messages.append(_assistant(sources_html(answer, ex.answer_id)))
        return messages

    def status_line(self) -> str:
        """Which backend answers and what the index holds, for the line above the chat."""
        try:
            papers = f"{self.service.pipeline.index.count_papers()} papers"
        except PaperchatError:
            papers = "index unavailable"
        snap = self.service.status.snapshot()
        state = "ready" if snap.phase == "ready" else f"indexing ({snap.papers} papers so far)"
        return f"Answers by **{self.default_backend}** · {papers} · {state}"


def history_turns(history: Sequence[Message]) -> list[Turn]:
    """The chat as the API would receive it: plain text, an assistant's messages joined."""
    turns: list[Turn] = []
    for message in history:
        role, text = message.get("role"), plain(_text_of(message.get("content")))
        if role not in ("user", "assistant") or not text:
            continue
        if turns and turns[-1].role == role == "assistant":
            turns[-1] = Turn(role, f"{turns[-1].content}\n\n{text}")
        else:
            turns.append(Turn(role, text))
    return turns


def _text_of(content: object) -> str:
    """A message's text: Gradio passes history content as a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if p)
    return ""


def _assistant(content: str) -> Message:
    return {"role": "assistant", "content": content}


def _timing(answer: Answer, backend: str) -> str:
    t = answer.timings
    if answer.finish_reason == "cancelled":
        return "Stopped."
    if answer.abstained:
        return "The collection does not seem to cover this question."
    done = (
        f"Answered by {backend} in {t.get('total', 0):.1f}s (retrieval "
        f"{t.get('retrieve', 0):.2f}s, writing {t.get('generate', 0):.1f}s)."
    )
    return f"No paper matches this question closely. {done}" if answer.tentative else done


def backend_choices(default: str, settings: Settings) -> list[str]:
    """The default backend first; vllm only when a server is configured."""
    offered = [b for b in OFFERED if b != "vllm" or settings.llm.url]
    return [default, *(b for b in offered if b != default)]


def build_ui(
    service: ChatService,
    settings: Settings,
    panels: Sequence[Panel] = (),
    notice: Callable[[], str | None] | None = None,
) -> gr.Blocks:
    default = service.answerer.backend
    ui = ChatUI(service, default, notice)
    with gr.Blocks(title="paperchat", analytics_enabled=False) as blocks:
        gr.Markdown(INTRO)
        status = gr.Markdown("", elem_id="status", latex_delimiters=NO_LATEX)
        with gr.Tabs():
            with gr.Tab("Chat"):
                _chat_tab(ui, settings, status, default)
            for panel in panels:
                with gr.Tab(panel.title):
                    panel.build(service, settings)
        blocks.load(ui.status_line, None, status, api_visibility="private")
    return blocks


def _chat_tab(ui: ChatUI, settings: Settings, status: gr.Markdown, default: str) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=320):
            with gr.Accordion("Settings", open=False):
                backend = gr.Dropdown(
                    backend_choices(default, settings),
                    value=default,
                    label="Answer with",
                    elem_id="backend",
                )
                k = gr.Slider(1, MAX_K, value=settings.retrieval.k, step=1, label="Papers (k)")
                mode = gr.Radio(
                    list(RETRIEVAL_MODES), value=settings.retrieval.mode, label="Search"
                )
            filters = render_filters()
            filters.sources.focus(
                lambda: source_choices(ui.service),
                None,
                [filters.sources],
                api_visibility="private",
            )
            hits = gr.HTML(HITS_PLACEHOLDER, elem_id="hits", render=False)
            question = gr.Textbox(
                placeholder="Ask a question about the papers…",
                show_label=False,
                elem_id="question",
                max_length=settings.answer.max_question_chars,  # bounded in the browser too
                submit_btn=True,
                stop_btn=True,
            )
            gr.ChatInterface(
                ui.respond,
                chatbot=gr.Chatbot(
                    elem_id="chat", height=520, label="Chat", latex_delimiters=NO_LATEX
                ),
                textbox=question,
                additional_inputs=[k, mode, backend, *filters.inputs],
                additional_outputs=[hits, status],
                save_history=True,
                concurrency_limit=CONCURRENT_CHATS,
                api_visibility="private",  # programs use /v1; no second API to support
            )
            gr.Examples([[q] for q in EXAMPLES], inputs=[question], label="Examples")
        with gr.Column(scale=2, min_width=280, elem_id="hits-column"):
            gr.Markdown("### Retrieved papers")
            hits.render()


def mount_ui(
    app: FastAPI, service: ChatService, settings: Settings, panels: Sequence[Panel] = ()
) -> None:
    """Serve the UI at /, the library tab first among `panels`; with an API key set, the
    UI asks for it too (any user name), uploads included."""
    key = settings.api.key
    uploads = settings.data_dir / "uploads"
    jobs = UploadJobs(service.pipeline, service.status, uploads, settings.api.upload_max_bytes)
    panels = [LibraryPanel(jobs), *panels]
    auth = (lambda _user, password: same_secret(password, key)) if key else None
    gr.mount_gradio_app(
        app,
        build_ui(service, settings, panels, jobs.notice),
        path="/",
        auth=auth,
        auth_message="Sign in with any user name and the server's API key." if key else None,
        # Gradio's log of raw calls is a debugging page: conversations are kept by the chat.
        run_history=False,
        footer_links=["settings"],
        css=CSS,
        head=HEAD,
        max_file_size=settings.api.upload_max_bytes,
    )
