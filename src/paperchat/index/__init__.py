"""The vector index: one interface (`PaperIndex`), two engines with the same schema.

- `edge.EdgeIndex`: Qdrant Edge embedded in the process (the default, a local folder);
- `server.ServerIndex`: a Qdrant server or cluster through qdrant-client
  (PAPERCHAT_QDRANT_URL); qdrant-client's local mode stands in for it in tests.

`push.push_index` copies the embedded index to a server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from paperchat.index.base import PaperIndex
from paperchat.index.schema import (
    DENSE,
    META_FIELDS,
    PAYLOAD_INDEXES,
    SPARSE,
    Filters,
    Mode,
    QueryVectors,
    SparseVec,
    StoredPaper,
    StoredPoint,
    author_keys,
    dimension_mismatch,
    meta_payload,
    payload_meta,
    stored_names,
)

if TYPE_CHECKING:
    from paperchat.settings import Settings

__all__ = [
    "DENSE",
    "META_FIELDS",
    "PAYLOAD_INDEXES",
    "SPARSE",
    "Filters",
    "Mode",
    "PaperIndex",
    "QueryVectors",
    "SparseVec",
    "StoredPaper",
    "StoredPoint",
    "author_keys",
    "dimension_mismatch",
    "meta_payload",
    "open_index",
    "payload_meta",
    "stored_names",
]


def open_index(settings: Settings) -> PaperIndex:
    """The server engine when PAPERCHAT_QDRANT_URL is set, else the embedded one."""
    if settings.qdrant.url:
        from paperchat.index.server import ServerIndex, open_client

        return ServerIndex(open_client(settings), settings)
    from paperchat.index.edge import EdgeIndex

    return EdgeIndex(settings)
