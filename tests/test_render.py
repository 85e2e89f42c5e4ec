"""Corpus text in the chat UI is inert: rendered by a real Markdown renderer, it is exactly the
text again, with no element, link or image. (The browser test in test_hostile.py checks the
same through Gradio in chromium.)"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from fakes import ELECTRA, FakeAnswerer
from paperchat.records import Answer, Citation, Hit
from paperchat.server.cards import answer_html, hits_html, sources_html
from paperchat.server.render import inert, link

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
        self.hrefs: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        self.hrefs += [found["href"]] if "href" in found else []
        self.styles += [found["style"]] if "style" in found else []

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
    """The source cards and the retrieved-papers panel are HTML blocks (see cards.py): their
    own elements only, the title as text, and no link that is not http(s)."""
    title = HOSTILE[0] + " " + HOSTILE[2]
    hit = Hit(paper_id="p", title=title, score=0.5, text=HOSTILE[1], urls=("javascript:x",))
    citation = Citation(n=1, paper_id="p", title=title, passage=HOSTILE[1], urls=hit.urls)
    answer = Answer(text=f"{HOSTILE[2]} [1]", hits=[hit], question="q", citations=[citation])
    for html in (sources_html(answer, "a1"), hits_html([hit]), answer_html(answer.text, "a1", [1])):
        parts = rendered(html)
        assert not {"img", "h1", "table", "script"} & set(parts.tags)
        assert set(parts.hrefs) <= {citation.link, "#src-a1-1"}  # no javascript: link
        assert parts.styles == []  # nothing can cover the page
    shown = " ".join("".join(rendered(sources_html(answer, "a1")).text).split())
    assert " ".join(title.split()) in shown


def test_a_normal_answer_still_reads_the_same() -> None:
    answer = FakeAnswerer()._answer("What is ELECTRA?")
    sources = rendered(sources_html(answer, "a1"))
    text = "".join(sources.text)
    assert f"[1] {ELECTRA.title}" in text
    assert ELECTRA.url in sources.hrefs  # the code link is still a link


def test_a_source_card_reads_tex_as_text_and_keeps_the_recorded_title() -> None:
    title = "$\\textbf{S}^2$IP-LLM: Prompt Learning"
    passage = "It gains 4.9\\% on Tricky~2.0 with ``quoted'' words."
    citation = Citation(n=1, paper_id="p", title=title, passage=passage)
    shown = " ".join(
        "".join(
            rendered(sources_html(Answer(text="x [1]", citations=[citation]), "a1")).text
        ).split()
    )
    assert "It gains 4.9% on Tricky 2.0 with \u201cquoted\u201d words." in shown
    assert title in shown  # a follow-up reads the cited papers back from the card's title
    # A sentence no source supports is marked in the answer, as text.
    marked = rendered(answer_html("Made up in 2019. Cited [1].", "a1", [1], ["Made up in 2019."]))
    assert "span" in marked.tags and "Made up in 2019." in "".join(marked.text)
