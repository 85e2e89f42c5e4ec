"""Corpus text in the chat UI is inert: rendered by a real Markdown renderer, it is exactly the
text again, with no element, link or image. (The browser test in test_hostile.py checks the
same through Gradio in chromium.)"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from fakes import ELECTRA, FakeAnswerer
from paperchat.records import Answer, Citation, Hit
from paperchat.server.render import inert, link
from paperchat.server.ui import render_citations, render_hits

HOSTILE = [
    '<div style="position:fixed;inset:0;z-index:9999">SESSION EXPIRED - re-enter your key</div>',
    '<img src="http://127.0.0.1:9/x.png" onerror="alert(1)">',
    "![](http://127.0.0.1:9/probe) and [click](javascript:alert(1))",
    "# Heading\n- list\n1. item\n> quote\n| a | b |\n|---|---|",
    "**bold** _it_ `code` ~~del~~ $$x^2$$ www.example.com https://example.com/a_b",
    "<https://example.com> &amp; &lt;b&gt; \\*not emphasis\\* <!-- comment -->",
]


class _Parts(HTMLParser):
    """The tags and the text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def rendered(markdown: str) -> _Parts:
    parts = _Parts()
    # HTML on, as in Gradio: raw tags in the source would become elements.
    md = MarkdownIt("commonmark", {"html": True, "breaks": True}).enable(["table", "strikethrough"])
    parts.feed(md.render(markdown))
    return parts


@pytest.mark.parametrize("text", HOSTILE)
def test_inert_text_renders_as_itself_and_nothing_else(text: str) -> None:
    parts = rendered(inert(text))
    assert set(parts.tags) <= {"p", "br"}  # paragraphs only: no a, img, div, h1, table, ...
    shown = "".join(parts.text)
    assert " ".join(shown.split()) == " ".join(text.split())


def test_only_web_urls_become_links() -> None:
    assert link("https://github.com/x/y") == "<https://github.com/x/y>"
    assert rendered(link("https://github.com/x/y")).tags == ["p", "a"]
    for url in ("javascript:alert(1)", "data:text/html,<b>x</b>", "http://x/<img>"):
        assert "a" not in rendered(link(url)).tags


def test_sources_and_hits_show_a_hostile_title_as_text() -> None:
    title = HOSTILE[0] + " " + HOSTILE[2]
    hit = Hit(paper_id="p", title=title, score=0.5, text=HOSTILE[1], urls=("javascript:x",))
    citation = Citation(n=1, paper_id="p", title=title, url=None, passage=HOSTILE[1])
    answer = Answer(text=f"{HOSTILE[2]} [1]", hits=[hit], question="q", citations=[citation])
    for markdown in (render_citations(answer)["content"], render_hits([hit])):
        parts = rendered(str(markdown))
        assert not {"a", "img", "div"} & set(parts.tags)
        assert title in " ".join("".join(parts.text).split())


def test_a_normal_answer_still_reads_the_same() -> None:
    answer = FakeAnswerer()._answer("What is ELECTRA?")
    sources = rendered(str(render_citations(answer)["content"]))
    text = "".join(sources.text)
    assert f"[1] {ELECTRA.title}" in text
    assert "strong" in sources.tags  # the title is still bold
    assert ELECTRA.url in text and "a" in sources.tags  # and its link still a link
