"""The UI's library: background ingest of an uploaded file into a real index, its report,
the collection view, and escaping of everything a file can put on the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperchat.collection import PaperInfo
from paperchat.errors import CorpusError
from paperchat.pipeline import Pipeline
from paperchat.records import Answer, PaperMeta
from paperchat.server.indexing import IndexStatus
from paperchat.server.metrics import Metrics
from paperchat.server.serving import ChatService
from paperchat.server.ui import _timing
from paperchat.server.ui_library import LibraryUI, link_html, render_papers, render_upload
from paperchat.server.uploads import UploadJobs, UploadState, safe_name
from paperchat.settings import Settings

BIB = Path(__file__).parent / "data" / "formats" / "library.bib"


@pytest.fixture
def library(tmp_path: Path):
    pipeline = Pipeline(Settings(data_dir=tmp_path / "data"))
    status = IndexStatus()
    status.done(0, 0)
    jobs = UploadJobs(pipeline, status, tmp_path / "uploads", max_bytes=100_000)
    service = ChatService(pipeline, status, Metrics(), "paperchat")
    yield LibraryUI(service, jobs), jobs, status
    jobs.wait(120)
    pipeline.close()


def test_upload_ingests_in_the_background_and_reports_problems(library, tmp_path):
    ui, jobs, status = library
    upload = tmp_path / "incoming" / "My Library (2024).bib"
    upload.parent.mkdir()
    upload.write_bytes(BIB.read_bytes())
    shown = ui.upload(str(upload))
    assert "Adding <b>My_Library_2024.bib</b>" in shown
    with pytest.raises(CorpusError, match="still being added"):
        jobs.submit(upload, upload.name)  # one upload at a time
    jobs.wait(180)
    state = jobs.state()
    assert state.phase == "done", state
    assert state.summary.startswith("4 papers (4 new, 0 updated, 0 already indexed) from bibtex")
    assert [p.split(": ", 1)[0] for p in state.problems] == [
        "My_Library_2024.bib:37",
        "My_Library_2024.bib:44",
    ]  # named by the file, not the server's folder
    assert status.snapshot().papers == 4  # health reports the new count
    table = ui.find("", "2017", "2018", "", [])
    assert "Attention Is All You Need" in table and "Adam" not in table
    assert 'href="https://arxiv.org/abs/1706.03762"' in table
    found = ui.find("question answering in French", "", "", "", ["My_Library_2024.bib"])
    assert "Question Answering for Français" in found.split("</tr>")[1]  # best match first
    assert "not a date" in ui.find("", "soon", "", "", [])


def test_upload_limits_and_types_are_checked(library, tmp_path):
    ui, jobs, _ = library
    big = tmp_path / "big.bib"
    big.write_bytes(b"%" * 100_001)
    assert "upload limit is 100000" in ui.upload(str(big))
    with pytest.raises(CorpusError, match="allowed"):
        safe_name("paper.pdf")
    assert safe_name("../../etc/passwd.bib") == "passwd.bib"
    assert jobs.state().phase == "idle"


def test_index_still_building_refuses_uploads(library, tmp_path):
    _, jobs, status = library
    status.indexing()
    with pytest.raises(CorpusError, match="still being built"):
        jobs.submit(BIB, "library.bib")


def test_file_text_is_escaped_and_only_web_links_are_links():
    evil = PaperInfo(
        "p",
        '<img src=x onerror="alert(1)"> Title',
        sources=("<b>x</b>.bib",),
        meta=PaperMeta(authors=("<script>a</script>",), venue="[v](javascript:x)"),
        urls=("javascript:alert(1)",),
    )
    page = render_papers([evil], "1 shown")
    assert "<img" not in page and "<script>" not in page and "<b>x" not in page
    assert "javascript:" not in page.split('href="')[1].split('"')[0]
    assert "arxiv.org/search/?query=" in page  # no link known: an arXiv title search
    assert link_html("T", "https://doi.org/10.1/x").startswith('<a href="https://doi.org/10.1/x"')
    report = render_upload(
        UploadState(phase="done", name="<i>f</i>.bib", summary="1", problems=("<b>bad</b>",))
    )
    assert "<i>" not in report and "<b>bad" not in report and "&lt;b&gt;bad" in report


def test_chat_status_says_when_an_answer_is_tentative():
    timings = {"total": 1.0, "retrieve": 0.1, "generate": 0.9}
    sure = Answer(text="x [1].", timings=timings)
    unsure = Answer(text="x [1].", timings=timings, tentative=True)
    assert _timing(sure, "extractive").startswith("Answered by extractive in 1.0s")
    assert _timing(unsure, "extractive").startswith("No paper matches this question closely.")
    assert "Answered by extractive" in _timing(unsure, "extractive")
