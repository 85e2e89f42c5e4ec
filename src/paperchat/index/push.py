"""`paperchat index push`: copy the embedded index into a collection on a Qdrant server.

Vectors and payloads are copied as stored (nothing is embedded again), in batches, in point-id
order. After each batch the position is saved in `DATA_DIR/push/<collection>-<target>.json`;
a push that was interrupted starts again from there. Points are written with upserts, so a
batch copied twice is harmless. The target collection gets the same name, schema, identity
and payload indexes, so `PAPERCHAT_QDRANT_URL=<target>` then serves from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paperchat.errors import IndexNotReadyError
from paperchat.index.base import PaperIndex

log = logging.getLogger(__name__)
PushProgress = Callable[[int, int], None]  # (points copied so far, points in the source)


@dataclass(frozen=True, slots=True)
class PushReport:
    copied: int  # points written by this run
    total: int  # points in the source
    resumed_at: int  # points an earlier, interrupted run had already copied


def state_path(data_dir: Path, collection: str, target: str) -> Path:
    digest = hashlib.sha1(target.encode()).hexdigest()[:8]
    return data_dir / "push" / f"{collection}-{digest}.json"


def push_index(
    source: PaperIndex,
    target: PaperIndex,
    state: Path,
    batch: int = 256,
    progress: PushProgress | None = None,
) -> PushReport:
    dim = source.dimension()
    if dim is None:
        raise IndexNotReadyError(source.empty_hint())
    total = source.count_chunks()
    target.ensure(dim)
    offset, done = _resume(state, total)
    if done:
        log.info("resuming the push after %d points", done)
    copied = 0
    while True:
        points, following = source.scroll(offset, batch)
        target.write_points(points)
        copied += len(points)
        offset = following
        _save(state, {"offset": offset, "copied": done + copied, "total": total})
        if progress:
            progress(done + copied, total)
        if offset is None:
            state.unlink()
            return PushReport(copied=copied, total=total, resumed_at=done)


def _resume(state: Path, total: int) -> tuple[str | None, int]:
    """Where an interrupted push of the same source stopped; the start otherwise."""
    try:
        saved = json.loads(state.read_text())
    except (FileNotFoundError, ValueError):
        return None, 0
    if saved.get("total") != total or saved.get("offset") is None:
        log.info("the index changed since the interrupted push: starting over")
        return None, 0
    return saved["offset"], int(saved.get("copied", 0))


def _save(state: Path, data: dict[str, object]) -> None:
    state.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(state)
