"""The chat UI: a Gradio app mounted at / that answers through the same `ChatService` as the API.

Nothing here answers or checks anything: it renders the service's events (retrieved papers,
checked text, the final answer with its citations) and keeps the conversation for follow-ups.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import gradio as gr
from fastapi import FastAPI

from paperchat.answering import Delta, Done, Retrieved
from paperchat.errors import PaperchatError
from paperchat.records import Answer, Hit, Turn
from paperchat.server.access import same_secret
from paperchat.server.render import inert, link
from paperchat.server.serving import ChatService, answer_content
from paperchat.server.ui_library import (
    LibraryUI,
    link_html,
    make_filters,
    render_filters,
    render_library,
)
from paperchat.server.uploads import UploadJobs
from paperchat.settings import RETRIEVAL_MODES, Settings

log = logging.getLogger(__name__)

# Questions the shipped corpus answers; they show what kind of question works.
EXAMPLES = (
    "How does ELECTRA's replaced token detection differ from masked language modeling?",
    "How can speech-text pre-training scale without parallel speech-text data?",
    "Which papers pre-train vision-language models for medical images?",
    "What is DeBERTaV3 and how does it improve on DeBERTa?",
)
PASSAGE_CHARS = 500  # cited passages are abstract windows; a few lines say enough
MAX_K = 20
CONCURRENT_CHATS = 16  # answers are serialized per model anyway; this bounds waiting threads
INTRO = (
    "# paperchat\n"
    "Ask about the research papers in the collection. Every answer cites the papers it used; "
    "follow-up questions keep the conversation. Programs can use the OpenAI-compatible API "
    "at `/v1` ([API docs](/docs))."
)

# LaTeX is rendered from the page's text after Markdown, so escaping cannot stop it: a title
# holding $$\rule{5000px}{5000px}$$ would draw a box over the page. Papers need no maths here.
NO_LATEX: list[dict[str, str | bool]] = []

# Rank and score stay on one line; titles take the rest of the panel.
CSS = "#hits th, #hits td:nth-child(-n+2) { white-space: nowrap; }"

Message = dict[str, object]
Outputs = tuple[str, list[Message], list[Message], list[dict[str, str]], str, str]


@dataclass(slots=True)
class _Exchange:
    """The UI's view of one question while it is answered."""

    question: str
    messages: list[Message]
    turns: list[dict[str, str]]
    retrieved: str = ""
    status: str = ""
    text: list[str] = field(default_factory=list)


class ChatUI:
    """The UI's event handlers: plain Python over ChatService, testable without a browser."""

    def __init__(
        self, service: ChatService, notice: Callable[[], str | None] | None = None
    ) -> None:
        self.service = service
        self.notice = notice or (lambda: None)  # e.g. "an upload is still being indexed"

    def respond(
        self,
        question: str,
        messages: list[Message],
        turns: list[dict[str, str]],
        k: float,
        mode: str,
        since: str = "",
        until: str = "",
        categories: str = "",
        source_files: list[str] | None = None,
    ) -> Iterator[Outputs]:
        """Stream one answer into the chat; yields (textbox, chatbot, messages, turns,
        retrieved panel, status line) after each event."""
        question = (question or "").strip()
        if not question:
            yield "", messages, messages, turns, gr.skip(), "Type a question first."
            return
        ex = _Exchange(question, [*messages, _user(question), _assistant("…")], list(turns))
        yield self._outputs(ex, "Searching the papers…")
        history = [Turn(t["role"], t["content"]) for t in turns]
        try:
            filters = make_filters(since, until, categories, source_files)
            events = self.service.converse(question, history, k=int(k), mode=mode, filters=filters)
            for event in events:
                if isinstance(event, Retrieved):
                    ex.retrieved = render_hits(event.hits)
                    yield self._outputs(ex, "Writing the answer…")
                elif isinstance(event, Delta):
                    ex.text.append(event.text)
                    ex.messages[-1] = _assistant(inert("".join(ex.text)))
                    yield self._outputs(ex, "Writing the answer…")
                elif isinstance(event, Done):
                    yield self._finish(ex, event.answer)
        except PaperchatError as e:
            yield self._fail(ex, str(e))
        except Exception:  # the page must show a message, never a stack trace
            log.exception("chat UI request failed")
            yield self._fail(ex, "The server failed to answer; the details are in its log.")

    def _outputs(self, ex: _Exchange, status: str) -> Outputs:
        return "", ex.messages, ex.messages, ex.turns, ex.retrieved, status

    def _finish(self, ex: _Exchange, answer: Answer) -> Outputs:
        ex.messages[-1] = _assistant(inert(answer.text))
        if answer.citations:
            ex.messages.append(render_citations(answer))
        # The history holds what an API client would send back: text plus the Sources list.
        ex.turns += [
            {"role": "user", "content": ex.question},
            {"role": "assistant", "content": answer_content(answer)},
        ]
        notice = self.notice()
        return self._outputs(ex, _timing(answer) + (f" {notice}" if notice else ""))

    def _fail(self, ex: _Exchange, message: str) -> Outputs:
        ex.messages[-1] = _assistant(f"⚠️ {inert(message)}")
        return self._outputs(ex, "No answer.")

    @staticmethod
    def clear() -> tuple[list[Message], list[Message], list[dict[str, str]], str, str]:
        return [], [], [], "", ""


def _user(text: str) -> Message:
    return {"role": "user", "content": inert(text)}


def _assistant(text: str) -> Message:
    return {"role": "assistant", "content": text}


def render_citations(answer: Answer) -> Message:
    """The cited papers under an answer: title, the passage cited, the abstract's links.
    Titles and passages are corpus text: shown inert, never as markup."""
    links = {h.paper_id: h.urls for h in answer.hits}
    parts = []
    for c in answer.citations:
        passage = c.passage if len(c.passage) <= PASSAGE_CHARS else c.passage[:PASSAGE_CHARS] + "…"
        block = f"**\\[{c.n}\\] {inert(c.title)}**\n\n> {inert(passage)}"
        urls = tuple(dict.fromkeys(u for u in (c.url, *links.get(c.paper_id, ())) if u))
        if urls:
            block += "\n\nLinks: " + ", ".join(link(u) for u in urls)
        else:
            block += "\n\nLinks: " + link_html(c.title, None)
        parts.append(block)
    count = len(answer.citations)
    title = f"Sources: {count} cited paper{'s' if count != 1 else ''}"
    return {"role": "assistant", "content": "\n\n".join(parts), "metadata": {"title": title}}


def render_hits(hits: Sequence[Hit]) -> str:
    if not hits:
        return "No matching papers."
    rows = ["| # | Score | Paper |", "|---|---|---|"]
    for rank, hit in enumerate(hits, start=1):
        rows.append(f"| {rank} | {hit.score:.4f} | {inert(hit.title)} |")
    return "\n".join(rows)


def _timing(answer: Answer) -> str:
    t = answer.timings
    if answer.abstained:
        return "The collection does not seem to cover this question."
    return (
        f"Answered in {t.get('total', 0):.1f}s (retrieval {t.get('retrieve', 0):.2f}s, "
        f"writing {t.get('generate', 0):.1f}s)."
    )


def build_ui(service: ChatService, settings: Settings, jobs: UploadJobs) -> gr.Blocks:
    ui = ChatUI(service, jobs.notice)
    with gr.Blocks(title="paperchat", analytics_enabled=False) as blocks:
        gr.Markdown(INTRO)
        messages = gr.State([])  # what the chat shows, including the sources under answers
        turns = gr.State([])  # the conversation as the API receives it, for follow-ups
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat", height=560, elem_id="chat", latex_delimiters=NO_LATEX
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask a question about the papers…",
                        show_label=False,
                        scale=6,
                        elem_id="question",
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                status = gr.Markdown("", elem_id="status", latex_delimiters=NO_LATEX)
                gr.Examples([[q] for q in EXAMPLES], inputs=[question], label="Examples")
                clear = gr.Button("New conversation", variant="secondary")
            with gr.Column(scale=2):
                with gr.Accordion("Retrieval settings", open=False):
                    k = gr.Slider(1, MAX_K, value=settings.retrieval.k, step=1, label="Papers (k)")
                    mode = gr.Radio(
                        list(RETRIEVAL_MODES), value=settings.retrieval.mode, label="Mode"
                    )
                filters = render_filters()
                gr.Markdown("### Retrieved papers")
                retrieved = gr.Markdown(
                    "Papers found for the question appear here.",
                    elem_id="hits",
                    latex_delimiters=NO_LATEX,
                )
        render_library(LibraryUI(service, jobs), filters)
        inputs = [question, messages, turns, k, mode, *filters.inputs]
        outputs = [question, chatbot, messages, turns, retrieved, status]
        for trigger in (question.submit, ask.click):
            # Private: programs use /v1; the UI's own endpoint is no second API to support.
            trigger(
                ui.respond,
                inputs,
                outputs,
                concurrency_limit=CONCURRENT_CHATS,
                api_visibility="private",
            )
        clear.click(
            ui.clear, None, [chatbot, messages, turns, retrieved, status], api_visibility="private"
        )
    return blocks


def mount_ui(app: FastAPI, service: ChatService, settings: Settings) -> None:
    """Serve the UI at /; with an API key set, the UI asks for it too (any user name)."""
    key = settings.api.key
    uploads = settings.data_dir / "uploads"
    jobs = UploadJobs(service.pipeline, service.status, uploads, settings.api.upload_max_bytes)
    auth = (lambda _user, password: same_secret(password, key)) if key else None
    gr.mount_gradio_app(
        app,
        build_ui(service, settings, jobs),
        path="/",
        auth=auth,
        auth_message="Sign in with any user name and the server's API key." if key else None,
        run_history=False,  # conversations are not kept in the browser
        footer_links=["settings"],
        css=CSS,
        max_file_size=settings.api.upload_max_bytes,
    )
