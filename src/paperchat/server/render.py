"""Untrusted text made inert for the chat UI, which renders Markdown with (sanitised) HTML.

Paper titles and abstracts come from corpus files nobody here wrote, and answers quote them
(or come from a model that may have been told what to write by an abstract). Gradio's
sanitiser keeps `style`, `<img src>` and links, so a title could cover the page or make the
browser fetch a remote URL. Every piece of such text shown in the UI goes through `inert`:
HTML special characters become entities and Markdown's punctuation is backslash-escaped, so
the browser shows exactly the characters of the text and nothing of it acts as markup.
Panels rendered as HTML (the library) use `html_text` and `web_url` instead.
"""

from __future__ import annotations

import re
import string

# Entities for what HTML would read as markup; a backslash before every other ASCII
# punctuation mark (CommonMark lets any of them be escaped), which covers emphasis, links,
# images, headings, lists, tables, code, autolinks and the LaTeX delimiters alike.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_HTML = str.maketrans(_ENTITIES)
_TABLE = str.maketrans(
    {**{c: "\\" + c for c in string.punctuation if c not in _ENTITIES}, **_ENTITIES}
)
_SAFE_URL = re.compile(r"https?://[^\s<>\"'`\\]+", re.IGNORECASE)


def inert(text: str) -> str:
    """Markdown source that renders as exactly `text`, with no markup, link or image."""
    return text.translate(_TABLE)


def link(url: str) -> str:
    """A clickable autolink for an http(s) URL; anything else is shown as inert text.

    URLs come from abstracts and JSONL `url` fields: only plain web links become links, so a
    `javascript:` or `data:` value can never be clicked.
    """
    if _SAFE_URL.fullmatch(url):
        return f"<{url}>"
    return inert(url)


def html_text(value: str) -> str:
    """HTML that shows exactly `value` (for panels rendered as HTML, not Markdown)."""
    return value.translate(_HTML)


def web_url(url: str | None) -> str | None:
    """The URL when it is a plain http(s) link, else None (never a `javascript:` link)."""
    return url if url and _SAFE_URL.fullmatch(url) else None
