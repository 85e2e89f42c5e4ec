"""The chat UI in a real browser: Debian's chromium driven by Playwright.

Needs /usr/bin/chromium (`apt-get install -y chromium`); without it the tests are skipped,
unless PAPERCHAT_REQUIRE_BROWSER is set, which makes a missing browser a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from live_server import LiveServer, copy_index, start_server
from paperchat.settings import REPO_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
ELECTRA = "ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators"
ANSWER_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("PAPERCHAT_REQUIRE_BROWSER"):
            pytest.fail(f"PAPERCHAT_REQUIRE_BROWSER is set but {reason}", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def ui_server(chromium, ingested_dir: Path, tmp_path_factory) -> Iterator[LiveServer]:
    live = start_server(copy_index(ingested_dir, tmp_path_factory.mktemp("ui")))
    yield live
    live.stop()


@pytest.fixture
def page(chromium: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def ask(page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()


def test_question_gets_a_streamed_answer_with_cited_papers(ui_server, page):
    page.goto(ui_server.url, wait_until="load")
    page.locator("#question textarea").wait_for()
    ask(page, "How does ELECTRA's replaced token detection work?")
    # The sources block appears only once the answer is complete: "[n] Title", then the passage.
    cited = page.locator("#chat").get_by_text(re.compile(r"^\[\d+\] ELECTRA: Pre-training"))
    cited.first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    chat = page.locator("#chat").inner_text()
    assert "Sources: " in chat
    assert re.search(r"\[\d+\]", chat.split("Sources: ")[0])  # markers in the answer text
    assert "Masked language modeling (MLM) pre-training methods" in chat  # the cited passage
    assert ELECTRA in page.locator("#hits").inner_text()  # the retrieved-papers panel
    assert page.locator("#status").inner_text().startswith("Answered")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-answer.png"), full_page=True)

    # A follow-up keeps the conversation.
    ask(page, "Which model does it outperform with the same compute?")
    cited.nth(1).wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert page.locator("#chat").inner_text().count("Sources: ") == 2
    page.screenshot(path=str(ARTIFACTS / "ui-follow-up.png"), full_page=True)


def test_example_questions_fill_the_box(ui_server, page):
    from playwright.sync_api import expect

    page.goto(ui_server.url, wait_until="load")
    page.get_by_text("speech-text pre-training", exact=False).first.click()
    # The box is filled by a round trip to the server: wait for it rather than read at once.
    box = page.locator("#question textarea")
    expect(box).to_have_value(re.compile("speech-text pre-training"), timeout=30_000)


def test_uploaded_bib_is_indexed_then_cited_with_its_arxiv_link(ui_server, page):
    from playwright.sync_api import expect

    bib = Path(__file__).parent / "data" / "formats" / "library.bib"
    page.goto(ui_server.url, wait_until="load")
    page.get_by_text("Library: add papers").click()
    page.locator("#upload input[type=file]").set_input_files(str(bib))
    report = page.locator("#upload-report")
    # ELECTRA is in the shipped corpus too: one of the four is an update, not a new paper.
    expect(report).to_contain_text("library.bib: 4 papers (", timeout=ANSWER_TIMEOUT_MS)
    assert "library.bib:37" in report.inner_text()  # the entry without an abstract
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-upload.png"), full_page=True)

    ask(page, "Which network architecture is based solely on attention mechanisms?")
    link = page.locator('#chat a[href="https://arxiv.org/abs/1706.03762"]')
    link.first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    chat = page.locator("#chat").inner_text()
    assert "Attention Is All You Need" in chat.split("Sources: ")[1]
    page.screenshot(path=str(ARTIFACTS / "ui-upload-cited.png"), full_page=True)
