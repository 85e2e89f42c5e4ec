"""Deterministic synthetic paper abstracts, for scale tests and benchmarks.

Paper `i` is the same on every machine and run, so a test can generate a large JSONL, ingest
it and know exactly what the index must hold. Each paper carries a made-up code name
(`code_name(i)`) found in no other paper, so a question can single out one paper among
many thousands.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

_ONSETS = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "tr", "pl")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "eo")
_CODAS = ("", "n", "r", "m", "x", "l", "th")
_TOPICS = (
    "protein folding",
    "speech recognition",
    "graph neural networks",
    "retrieval augmented generation",
    "reinforcement learning",
    "image segmentation",
    "machine translation",
    "weather forecasting",
    "code generation",
    "robot manipulation",
)
_SENTENCES = (
    "We propose {name}, a method for {topic} built on {w0} {w1} and {w2} {w3}.",
    "Unlike prior work on {w4} {w5}, {name} needs no {w6} {w7} during training.",
    "Experiments on {n} benchmarks of {topic} show gains of {pct} points over {w8} baselines.",
    "An analysis of {w9} {w10} explains where the improvements come from.",
    "The {w11} {w12} of {name} scales to {n} million {w13} {w14} on one machine.",
    "We release code and {w15} {w16} data for {topic} research.",
)


def _vocabulary() -> tuple[str, ...]:
    # Pronounceable pseudo-words: realistic token counts, yet no real-word collisions.
    rng = random.Random(0)
    words = {
        rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) + rng.choice(_VOWELS)
        for _ in range(6000)
    }
    return tuple(sorted(words))


_VOCAB = _vocabulary()


def code_name(i: int) -> str:
    """The word that names paper `i` and no other (digits keep stemmers off it)."""
    return f"zx{i:07d}"


def synthetic_paper(i: int) -> dict[str, str]:
    """Paper `i` as a JSONL record: title, abstract (about 120-220 words) and date."""
    rng = random.Random(i)
    name = code_name(i)
    topic = _TOPICS[i % len(_TOPICS)]
    fill = {f"w{k}": rng.choice(_VOCAB) for k in range(17)}
    values = {"name": name, "topic": topic, "n": rng.randint(3, 40), "pct": rng.randint(1, 9)}
    sentences = [s.format(**values, **fill) for s in _SENTENCES]
    filler = " ".join(rng.choice(_VOCAB) for _ in range(rng.randint(5, 60)))
    abstract = " ".join([*sentences[:3], filler.capitalize() + ".", *sentences[3:]])
    title = f"{fill['w0'].capitalize()} {fill['w1']} for {topic}: the {name} approach"
    date = f"{2015 + i % 10}-{1 + i % 12:02d}-{1 + i % 28:02d}"
    return {"title": title, "abstract": abstract, "date": date}


def synthetic_records(n: int, start: int = 0) -> Iterator[dict[str, str]]:
    for i in range(start, start + n):
        yield synthetic_paper(i)


def write_jsonl(path: Path, n: int, start: int = 0) -> Path:
    """Papers start..start+n-1, one JSON line each, written as a stream."""
    with path.open("w", encoding="utf-8") as out:
        for record in synthetic_records(n, start):
            out.write(json.dumps(record) + "\n")
    return path
