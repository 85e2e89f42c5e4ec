"""The UI's library: upload a paper file, browse or search the collection, and the filters
(date range, category, source file) that the chat and the collection view apply.

`LibraryPanel` is the "Library" tab, mounted through the chat UI's `Panel` hook; the chat tab
places its own `render_filters()` controls.

Everything shown from the corpus is escaped (paperchat.server.render): titles, authors and
venues come from files anyone can upload. Links are shown only when they are http(s).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from paperchat.collection import PaperInfo, browse, sources
from paperchat.corpus import SUFFIXES
from paperchat.errors import PaperchatError
from paperchat.index import Filters
from paperchat.records import Hit, paper_link
from paperchat.server.render import html_text, web_url
from paperchat.server.serving import ChatService
from paperchat.server.uploads import MAX_PROBLEMS_SHOWN, UploadJobs, UploadState
from paperchat.settings import Settings

log = logging.getLogger(__name__)

BROWSE_LIMIT = 50
POLL_SECONDS = 1.0
UPLOAD_HELP = (
    "Add papers: a BibTeX export (`.bib`, with abstracts), arXiv metadata (`.json` / `.jsonl`) "
    "or a saved listing (`.txt`). They are indexed in the background; questions are answered "
    "meanwhile from the papers already indexed."
)


def make_filters(
    since: str | None = None,
    until: str | None = None,
    categories: str | None = None,
    source_files: Sequence[str] | None = None,
) -> Filters:
    """The UI's filter controls as retrieval filters; ConfigError for a bad date."""
    return Filters.of(
        since=since,
        until=until,
        categories=[c for c in (categories or "").replace(";", ",").split(",")],
        sources=list(source_files or ()),
    )


# -- rendering ----------------------------------------------------------------------------------


def link_html(title: str, url: str | None) -> str:
    """The title linked to the paper, or to an arXiv title search when no link is known."""
    href = web_url(url) or paper_link(title)
    note = "" if web_url(url) else ' <small title="no link known">(title search)</small>'
    anchor = f'<a href="{html_text(href)}" target="_blank" rel="noopener noreferrer">'
    return f"{anchor}{html_text(title)}</a>{note}"


def paper_row(p: PaperInfo) -> str:
    authors = ", ".join(p.meta.authors[:4]) + (" et al." if len(p.meta.authors) > 4 else "")
    cells = (
        link_html(p.title, p.url),
        html_text(authors),
        html_text(p.date or (str(p.year) if p.year else "")),
        html_text(p.meta.venue or ""),
        html_text(", ".join(p.meta.categories[:6])),
        html_text(", ".join(p.sources)),
    )
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_papers(papers: Sequence[PaperInfo], shown_of: str) -> str:
    if not papers:
        return "<p>No papers match.</p>"
    head = "".join(
        f"<th>{h}</th>" for h in ("Paper", "Authors", "Date", "Venue", "Categories", "Sources")
    )
    rows = "\n".join(paper_row(p) for p in papers)
    return (
        f"<p>{html_text(shown_of)}</p>"
        f'<table id="library-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    )


def render_upload(state: UploadState) -> str:
    """The upload's progress or outcome as HTML, every file-derived string escaped."""
    name = html_text(state.name)
    if state.phase == "idle":
        return ""
    if state.phase == "ingesting":
        return f"<p>⏳ Adding <b>{name}</b>: {state.papers} papers, {state.chunks} chunks…</p>"
    head = f"✅ <b>{name}</b>: {html_text(state.summary)}."
    if state.phase == "failed":
        head = f"⚠️ <b>{name}</b>: {html_text(state.error or 'failed')}."
    items = [f"<li>{html_text(p)}</li>" for p in state.problems[:MAX_PROBLEMS_SHOWN]]
    if len(state.problems) > MAX_PROBLEMS_SHOWN:
        items.append(f"<li>… and {len(state.problems) - MAX_PROBLEMS_SHOWN} more</li>")
    problems = ""
    if items:
        problems = f"<p>{len(state.problems)} problem(s), skipped:</p><ul>{''.join(items)}</ul>"
    return f'<div id="upload-report"><p>{head}</p>{problems}</div>'


def _hit_info(hit: Hit) -> PaperInfo:
    return PaperInfo(hit.paper_id, hit.title, hit.sources, hit.date, hit.urls, hit.meta)


# -- event handlers -------------------------------------------------------------------------------


def source_choices(service: ChatService) -> dict:
    """The source-file filter's choices: the files the index holds papers from."""
    try:
        return gr.update(choices=sources(service.pipeline.index))
    except PaperchatError:
        return gr.update()


class LibraryUI:
    """Upload, progress and collection view handlers: plain Python, testable without a browser."""

    def __init__(self, service: ChatService, jobs: UploadJobs) -> None:
        self.service = service
        self.jobs = jobs

    def upload(self, file: str | None) -> str:
        if not file:
            return "<p>Choose a file first.</p>"
        try:
            self.jobs.submit(Path(file), Path(file).name)
        except PaperchatError as e:
            return f"<p>⚠️ {html_text(str(e))}</p>"
        except OSError:
            log.exception("saving an upload failed")
            return "<p>⚠️ The server could not save the file; the details are in its log.</p>"
        return render_upload(self.jobs.state())

    def progress(self) -> str:
        return render_upload(self.jobs.state())

    def sources(self) -> dict:
        return source_choices(self.service)

    def find(
        self, query: str, since: str, until: str, categories: str, source_files: list[str]
    ) -> str:
        """Papers matching the filters; with a query, the best matches first."""
        try:
            filters = make_filters(since, until, categories, source_files)
            query = (query or "").strip()
            if query:
                hits = self.service.pipeline.retriever.search(query, BROWSE_LIMIT, None, filters)
                return render_papers([_hit_info(h) for h in hits], f"{len(hits)} best matches")
            papers = browse(self.service.pipeline.index, filters, BROWSE_LIMIT)
            total = self.service.pipeline.index.count_papers()
            return render_papers(papers, f"{len(papers)} shown of {total} papers")
        except PaperchatError as e:
            return f"<p>⚠️ {html_text(str(e))}</p>"


@dataclass(slots=True)
class FilterControls:
    since: gr.Textbox
    until: gr.Textbox
    categories: gr.Textbox
    sources: gr.Dropdown

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.since, self.until, self.categories, self.sources]


def render_filters(elem_prefix: str = "") -> FilterControls:
    """Filter controls for the chat or the collection view (place inside a Blocks); element
    ids get `elem_prefix` so both sets can live on one page."""
    with gr.Accordion("Filters", open=False, elem_id=f"{elem_prefix}filters"):
        with gr.Row():
            since = gr.Textbox(
                label="Since", placeholder="YYYY[-MM[-DD]]", elem_id=f"{elem_prefix}since"
            )
            until = gr.Textbox(
                label="Until", placeholder="YYYY[-MM[-DD]]", elem_id=f"{elem_prefix}until"
            )
        categories = gr.Textbox(
            label="Categories", placeholder="cs.CL, cs.LG", elem_id=f"{elem_prefix}category"
        )
        files = gr.Dropdown(
            [],
            multiselect=True,
            allow_custom_value=True,
            label="Source files",
            elem_id=f"{elem_prefix}source",
        )
    return FilterControls(since, until, categories, files)


class LibraryPanel:
    """The "Library" tab of the chat UI (a `ui.Panel`): upload, collection view, its filters."""

    title = "Library"

    def __init__(self, jobs: UploadJobs) -> None:
        self.jobs = jobs

    def build(self, service: ChatService, settings: Settings) -> None:
        library = LibraryUI(service, self.jobs)
        render_library(library, render_filters(elem_prefix="library-"))


def render_library(library: LibraryUI, filters: FilterControls) -> None:
    """The upload box and the collection view (place inside a Blocks or a Tab)."""
    with gr.Column(elem_id="library"):
        gr.Markdown("### Add papers, browse the collection")
        gr.Markdown(UPLOAD_HELP)
        with gr.Row():
            upload = gr.File(
                label="Paper file", file_types=list(SUFFIXES), type="filepath", elem_id="upload"
            )
            status = gr.HTML("", elem_id="upload-status")
        with gr.Row():
            query = gr.Textbox(
                placeholder="Search the collection (empty: browse)", show_label=False, scale=5
            )
            find = gr.Button("Show papers", scale=1, elem_id="library-find")
        table = gr.HTML("", elem_id="library-papers")
    upload.upload(library.upload, [upload], [status], api_visibility="private")
    gr.Timer(POLL_SECONDS).tick(library.progress, None, [status], api_visibility="private")
    filters.sources.focus(library.sources, None, [filters.sources], api_visibility="private")
    for trigger in (find.click, query.submit):
        trigger(library.find, [query, *filters.inputs], [table], api_visibility="private")
