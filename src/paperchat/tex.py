"""TeX markup left in abstracts, read as the text it stands for, for quoting.

arXiv abstracts keep their authors' TeX: "One For All (\\textsc{Ofa})", "PixArt-\\Sigma",
"up to 5.18\\times$ latency reductions", "by 4.9\\%", "wav2vec~2.0". A quoted sentence (and
a title quoted in one) shows "Ofa", "PixArt-Σ", "5.18" with a multiplication sign, "4.9%"
and "wav2vec 2.0". Symbols come from pylatexenc's table (the library bibtexparser decodes
BibTeX with); a macro it does not know is the author's own ("\\ModelName") and keeps its
name, where pylatexenc would drop it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pylatexenc.latex2text import LatexNodes2Text

# A font or text command and its braced argument: "\textsc{Ofa}" -> "Ofa".
_FONT_ARGUMENT = re.compile(
    r"\\(?:text|math)(?:bf|it|rm|sf|tt|sc|cal|bb|frak|scr|normal)?\{([^{}]*)\}"
    r"|\\(?:emph|underline|mbox)\{([^{}]*)\}"
)
# An old-style font switch inside braces: "{\em parameter size}" -> "parameter size".
_FONT_SWITCH = re.compile(r"\{\\(?:em|bf|it|rm|sc|tt|sf)\s+([^{}]*)\}")
# TeX's unbreakable space, glued to the word before it: "model~(DiT)", "wav2vec~2.0",
# "shows~5\%". Not " ~5%" ("about" there) nor "5~10%" (a range).
_TIE = re.compile(r"(?<=[A-Za-z])~(?=[\w(\[\\])")
_MACRO = re.compile(r"\\([A-Za-z]+)(?:\{\})?")
# Inline and display math's other delimiters: "76\(\%\)" -> "76%".
_MATH_DELIMITER = re.compile(r"\\[()\[\]]")
# A number raised in math: "$\textbf{S}^2$IP-LLM" -> "S²IP-LLM", "10^{-3}" -> "10⁻³".
_RAISED = re.compile(r"\^(?:\{([\d+-]+)\}|(\d))")
# A braced subscript, in math or not: "G_{stack}" -> "G_stack".
_SUBSCRIPT = re.compile(r"_\{(\w+)\}")
_SUPERSCRIPTS = str.maketrans("0123456789+-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻")
# A math dollar, not an escaped one ("\$5").
_DOLLAR = re.compile(r"(?<!\\)\$")
# A character TeX escapes: "4.9\%" -> "4.9%", "R\&D" -> "R&D".
_ESCAPED = re.compile(r"\\([%&#_$])")
# Abbreviation macros papers define for themselves.
_ABBREVIATIONS = {"eg": "e.g.", "ie": "i.e.", "etal": "et al.", "etc": "etc.", "vs": "vs."}


def plain(text: str) -> str:
    """The text with its TeX markup read as text; text without any is returned as it is."""
    text = _TIE.sub(" ", text)
    if "``" in text:  # TeX's quotation marks: ``SimVLG''
        text = text.replace("``", "\u201c").replace("''", "\u201d")
    if "^" in text:  # "S^2IP-LLM" is raised outside math too
        text = _RAISED.sub(lambda m: (m[1] or m[2]).translate(_SUPERSCRIPTS), text)
    if "_{" in text:  # "G_{stack}": a subscript's braces go
        text = _SUBSCRIPT.sub(r"_\1", text)
    if "\\" not in text:
        return text
    text = _FONT_ARGUMENT.sub(lambda m: m[1] if m[1] is not None else m[2], text)
    text = _FONT_SWITCH.sub(r"\1", text)
    text = _MACRO.sub(lambda m: _symbol(m[1]), text)
    text = _MATH_DELIMITER.sub("", text)
    text = _DOLLAR.sub("", text)  # math mode's delimiters, once its macros are symbols
    return _ESCAPED.sub(r"\1", text)


@lru_cache(maxsize=512)
def _symbol(name: str) -> str:
    if name in _ABBREVIATIONS:
        return _ABBREVIATIONS[name]
    said = _converter().latex_to_text("\\" + name).strip()
    return said or name


@lru_cache(maxsize=1)
def _converter() -> LatexNodes2Text:
    return LatexNodes2Text(math_mode="text")
