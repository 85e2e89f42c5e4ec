"""HTML for the chat UI: answers with clickable `[n]`, source cards, the retrieved-papers panel.

Every title, passage and link comes from the corpus (or from a model that read it) and is
untrusted: text is HTML-escaped, and only http(s) links are ever turned into `<a href>`. Each
message is one HTML block (a `<div>` without blank lines), inside which markdown does not
apply, so `**`, `[x](y)` or `#` in a title stay plain characters (`render.inert` is for
Markdown text: inside these blocks its backslashes would show).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from paperchat.conversation import SOURCES_HEADER
from paperchat.prompts import MARKER
from paperchat.records import Answer, Citation, Hit, is_web_url
from paperchat.tex import plain as tex_plain

PASSAGE_CHARS = 400  # cited passages are abstract windows; a few lines say enough
BAR_CELLS = 10
_TAGS = re.compile(r"<[^>]+>")
_DECOR = re.compile(r'<span class="(?:bar|passage)"[^>]*>.*?</span>|<br>Links: .*?(?=</div>)')
_SETTING = re.compile(r"\s*\((?:[^()]*\s)?PAPERCHAT_[A-Z_]+[^()]*\)")
_SENTENCES = re.compile(r"(?<=[.!?:])\s+")


def html_text(text: str) -> str:
    """Text safe inside a message's HTML block: escaped, line breaks as `<br>`, so no blank
    line can end the block and let markdown apply."""
    lines = html.escape(text, quote=True).splitlines()
    return "<br>".join(line.strip() for line in lines)


def attr(text: str) -> str:
    return html.escape(text, quote=True)


def link(url: str, label_html: str, css: str = "") -> str:
    """An `<a href>` for http(s) URLs only; anything else stays plain text."""
    if not is_web_url(url):
        return label_html
    cls = f' class="{css}"' if css else ""
    return f'<a href="{attr(url)}" target="_blank" rel="noopener noreferrer"{cls}>{label_html}</a>'


UNSUPPORTED = "No retrieved paper supports this sentence."


def anchor_id(answer_id: str, n: int) -> str:
    return f"src-{answer_id}-{n}"


def answer_html(
    text: str, answer_id: str, cited: Sequence[int], unsupported: Sequence[str] = ()
) -> str:
    """The answer with each valid `[n]` as a link to its source card below, and each sentence
    no source supports marked as such."""
    known = set(cited)

    def cite(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in known:
            return match.group(0)
        return f'<a class="cite" href="#{anchor_id(answer_id, n)}" data-n="{n}">[{n}]</a>'

    shown = MARKER.sub(cite, html_text(text))
    for sentence in dict.fromkeys(unsupported):
        escaped = html_text(sentence)
        if escaped:
            shown = shown.replace(
                escaped, f'<span class="unsupported" title="{UNSUPPORTED}">{escaped}</span>'
            )
    return f'<div class="answer">{shown}</div>'


def bar(value: float | None) -> str:
    """A similarity in [0, 1] as a text bar and a number ("▰▰▰▰▰▰▱▱▱▱ 0.62")."""
    if value is None:
        return ""
    value = min(max(value, 0.0), 1.0)
    cells = round(value * BAR_CELLS)
    return (
        f'<span class="bar" title="similarity of the passage to the question">'
        f"{'▰' * cells}{'▱' * (BAR_CELLS - cells)} {value:.2f}</span>"
    )


def sources_html(answer: Answer, answer_id: str) -> str:
    """One card per cited paper: number, linked title, relevance, the passage used, links."""
    cards = [_card(c, answer_id) for c in answer.citations]
    return '<div class="sources"><strong>Sources</strong>\n' + "\n".join(cards) + "</div>"


def _card(c: Citation, answer_id: str) -> str:
    # TeX read as text ("4.9%", not "4.9\\%"), as in the answer's quotes. The title stays as
    # recorded: a follow-up reads the papers of this message back from it.
    passage = " ".join(tex_plain(c.passage).split())
    if len(passage) > PASSAGE_CHARS:
        passage = passage[:PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"
    code = [u for u in c.urls if is_web_url(u) and u != c.link]
    extra = " · ".join(link(u, html_text(_short(u)), "code") for u in code[:3])
    return (
        f'<div class="source" id="{anchor_id(answer_id, c.n)}">'
        f'<span class="n">[{c.n}]</span> {link(c.link, html_text(c.title), "paper")} '
        f"{bar(c.relevance)}<br>"
        f'<span class="passage">{html_text(passage)}</span>'
        + (f"<br>Links: {extra}" if extra else "")
        + "</div>"
    )


def _short(url: str) -> str:
    return re.sub(r"^https?://(www\.)?", "", url).rstrip("/")


def hits_html(hits: Sequence[Hit]) -> str:
    """The retrieved-papers panel: rank, linked title, similarity bar."""
    if not hits:
        return "<p>No matching papers.</p>"
    rows = [
        f"<li>{link(_hit_link(h), html_text(h.title), 'paper')}<br>{bar(h.relevance)}</li>"
        for h in hits
    ]
    return '<ol class="hits">' + "".join(rows) + "</ol>"


def _hit_link(hit: Hit) -> str:
    return Citation(0, hit.paper_id, hit.title, hit.url, urls=hit.urls, page=hit.page).link


def plain(content: str) -> str:
    """A rendered chat message back as the text an API client would send (for follow-ups)."""
    # Bars, passages and code links are for the eye; the API's Sources list has titles only.
    text = _DECOR.sub("", content)
    text = re.sub(r"<br\s*/?>|</div>|</li>", "\n", text)
    text = html.unescape(_TAGS.sub("", text)).strip()
    # The API's Sources block starts with SOURCES_HEADER; conversation.py reads it there.
    return re.sub(r"^Sources\n", f"{SOURCES_HEADER}\n", text)


def friendly(message: str) -> str:
    """An error for a reader, not an operator: setting names and their advice left out."""
    message = _SETTING.sub("", message)
    kept = " ".join(s for s in _SENTENCES.split(message) if "PAPERCHAT_" not in s).strip()
    if not kept:
        return "The server cannot answer right now; try again later."
    return kept if kept[-1] in ".!?" else kept.rstrip(":;, ") + "."
