"""The vector index: one interface, an embedded engine and a Qdrant server engine."""

from paperchat.index.server import *  # noqa: F403
from paperchat.index.server import (
    DENSE,
    SPARSE,
    Filters,
    Mode,
    PaperIndex,
    QueryVectors,
    SparseVec,
    StoredPaper,
    dimension_mismatch,
    open_client,
)

__all__ = [
    "DENSE",
    "SPARSE",
    "Filters",
    "Mode",
    "PaperIndex",
    "QueryVectors",
    "SparseVec",
    "StoredPaper",
    "dimension_mismatch",
    "open_client",
]
