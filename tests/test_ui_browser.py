"""The chat UI in a real browser: Debian's chromium driven by Playwright.

Needs /usr/bin/chromium (`apt-get install -y chromium`); without it the tests are skipped,
unless PAPERCHAT_REQUIRE_BROWSER is set, which makes a missing browser a failure. Screenshots
go to test-artifacts/ (the README's come from there).
"""

from __future__ import annotations

import os
import re
import time
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
QUESTION = "How does ELECTRA's replaced token detection work?"
ANSWER_TIMEOUT_MS = 180_000
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 375, "height": 812}


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


@pytest.fixture(scope="module")
def slow_server(chromium, ingested_dir: Path, models_dir: Path, tmp_path_factory):
    """The local model on CPU: answers take long enough to stop one."""
    data_dir = copy_index(ingested_dir, tmp_path_factory.mktemp("ui-local"), models_dir)
    live = start_server(data_dir, backend="local")
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser(chromium: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)  # a fresh local storage per test
    try:
        yield context.new_page()
    finally:
        context.close()


def open_chat(page, server: LiveServer) -> None:
    page.goto(server.url, wait_until="load")
    page.locator("#question textarea").wait_for()


def ask(page, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def wait_for_sources(page, count: int = 1) -> None:
    page.locator("#chat .sources").nth(count - 1).wait_for(timeout=ANSWER_TIMEOUT_MS)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_answer_with_linked_markers_and_source_cards(ui_server, page):
    open_chat(page, ui_server)
    shot(page, "ui-empty")
    ask(page, QUESTION)
    wait_for_sources(page)
    assert ELECTRA in page.locator("#chat .sources").inner_text()
    assert ELECTRA in page.locator("#hits").inner_text()
    assert page.locator("#status").inner_text().startswith("Answered by extractive")
    # The paper link is a real link: the paper's page or an arXiv title search.
    paper = page.locator("#chat .source a.paper").first
    assert re.match(r"https://arxiv\.org/(search/\?query=|abs/)", paper.get_attribute("href"))
    # A [n] in the answer leads to its source card.
    cite = page.locator("#chat a.cite").first
    card_id = cite.get_attribute("href").removeprefix("#")
    page.evaluate("window.scrollTo(0, 0)")
    cite.click()
    card = page.locator(f"#{card_id}")
    page.wait_for_function(
        "id => { const r = document.getElementById(id).getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight; }",
        arg=card_id,
    )
    assert "flash" in card.get_attribute("class")
    assert page.url.rstrip("/") == ui_server.url.rstrip("/")  # no navigation away
    shot(page, "ui-answered")

    # A follow-up keeps the conversation.
    ask(page, "Which model does it outperform with the same compute?")
    wait_for_sources(page, 2)


def test_readme_question_cites_electra_first(ui_server, page):
    open_chat(page, ui_server)
    ask(page, "What is ELECTRA's pre-training task?")
    wait_for_sources(page)
    sources = page.locator("#chat .sources").first.inner_text()
    assert ELECTRA in sources and "DeBERTaV3" not in sources
    assert page.locator("#chat .source").first.inner_text().count("ELECTRA") >= 1


def test_conversation_survives_a_reload(ui_server, page):
    open_chat(page, ui_server)
    ask(page, "Which paper proposes replaced token detection?")
    wait_for_sources(page)
    # The side panel's entry, not the question in the chat: it appears only once the
    # conversation is in the browser's storage, so the reload cannot outrun the save.
    saved = page.locator("table").get_by_text("Which paper proposes replaced")
    saved.wait_for(timeout=60_000)
    page.reload(wait_until="load")
    page.locator("#question textarea").wait_for()
    saved.click(timeout=60_000)
    page.locator("#chat .sources").first.wait_for(timeout=30_000)
    assert ELECTRA in page.locator("#chat").inner_text()


def test_phone_width_layout(ui_server, browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    try:
        open_chat(page, ui_server)
        ask(page, QUESTION)
        wait_for_sources(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1  # nothing forces sideways scrolling
        shot(page, "ui-mobile")
    finally:
        context.close()


def test_stop_ends_the_answer_and_the_generation(slow_server, page):
    open_chat(page, slow_server)
    ask(page, QUESTION)
    stop = page.locator("#question [data-testid='stop-button']")
    stop.first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    # Wait for the model's first words, then stop it.
    page.wait_for_function(
        "() => { const m = document.querySelectorAll('#chat .answer');"
        " return m.length && m[m.length - 1].innerText.trim().length > 20; }",
        timeout=ANSWER_TIMEOUT_MS,
    )
    shot(page, "ui-answering")
    stop.first.click()
    deadline = time.monotonic() + 30
    while "answer abandoned" not in slow_server.log(200) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "answer abandoned" in slow_server.log(200), slow_server.log()
    # The UI is usable again: the box takes a new question.
    box = page.locator("#question textarea")
    page.wait_for_function(
        "() => !document.querySelector('#question textarea').disabled", timeout=10_000
    )
    box.fill("Which paper is about speech?")
    assert box.input_value() == "Which paper is about speech?"


def test_uploaded_bib_is_indexed_then_cited_with_its_arxiv_link(ui_server, page):
    from playwright.sync_api import expect

    bib = Path(__file__).parent / "data" / "formats" / "library.bib"
    open_chat(page, ui_server)
    page.get_by_role("tab", name="Library").click()
    page.locator("#upload input[type=file]").set_input_files(str(bib))
    report = page.locator("#upload-report")
    # ELECTRA is in the shipped corpus too: one of the four is an update, not a new paper.
    expect(report).to_contain_text("library.bib: 4 papers (", timeout=ANSWER_TIMEOUT_MS)
    assert "library.bib:37" in report.inner_text()  # the entry without an abstract
    shot(page, "ui-upload")

    page.get_by_role("tab", name="Chat").click()
    ask(page, "Which network architecture is based solely on attention mechanisms?")
    link = page.locator('#chat .sources a[href="https://arxiv.org/abs/1706.03762"]')
    link.first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert "Attention Is All You Need" in page.locator("#chat .sources").last.inner_text()
    shot(page, "ui-upload-cited")
