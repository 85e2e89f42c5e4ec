"""The tests' private index copies: identical bytes, and no more disk than the original.

The index preallocates mostly empty files; copies that wrote their holes out as zeros took
twenty times the disk and filled a small machine during a full test run.
"""

from __future__ import annotations

from pathlib import Path

from live_server import copy_qdrant


def _files(root: Path) -> dict[Path, Path]:
    return {p.relative_to(root): p for p in sorted(root.rglob("*")) if p.is_file()}


def test_index_copy_is_identical_and_keeps_holes(ingested_dir: Path, tmp_path: Path) -> None:
    copy_qdrant(ingested_dir, tmp_path)
    source, copy = _files(ingested_dir / "qdrant"), _files(tmp_path / "qdrant")
    assert source.keys() == copy.keys() and source
    for name, path in source.items():
        assert copy[name].read_bytes() == path.read_bytes(), name
    apparent = sum(p.stat().st_size for p in copy.values())
    used = sum(p.stat().st_blocks * 512 for p in copy.values())
    original_used = sum(p.stat().st_blocks * 512 for p in source.values())
    assert used < apparent / 4  # the holes stayed holes
    assert used <= original_used * 1.1 + (1 << 20)
