"""The embedded engine: Qdrant Edge, Qdrant's own Rust engine, in this process.

Layout of `DATA_DIR/qdrant/edge/<collection>/`: `shard/` (Qdrant Edge's segments and WAL),
`collection.json` (the identity and vector size the shard was built for), `terms.sqlite`
(document frequencies, see terms.py) and `.lock` (one process at a time, as the shard's WAL
demands; taken when the index is opened, so a second process gets a clear message at once).

Qdrant Edge has no grouped query in Python: the fused candidates (both prefetch lists) are
fetched and grouped per paper here, which is what a server's group-by does over the same list.

Memory. Qdrant Edge writes into one appendable segment whose vectors, sparse index and payload
indexes live in RAM, and it runs its optimizer only when asked; left alone, an ingest of 100k
papers held 2 GB. So while writing, every `SEAL_CHECK` chunks the shard is asked to optimize:
once the appendable segment passes `qdrant.edge_segment_mb` of vectors it is sealed into an
indexed segment whose vectors, indexes and payload are memory-mapped (`Memory.Cold`), and a
fresh appendable segment takes the next points. The shard is then closed and opened again: a
shard that has written and sealed keeps memory that a freshly opened one does not. Readers of
the same index (a server answering while an upload ingests) wait for that reopening only.

Graphs. An HNSW graph costs about 250 µs of CPU a chunk to build (more than everything else
the ingest does for a chunk), and below some size an exact scan of the memory-mapped vectors
answers fast enough (2 ms for 60,000 vectors of the hash embedder, 15 MB, on this machine)
and exactly. So sealed segments get no graph while the index holds at most
`qdrant.edge_graph_mb` of dense vectors. Once a seal or an optimize finds it past that, the
shard is marked (`"graphs": true` in collection.json, never undone) and opened with the
graph configuration, whose next optimize builds a graph for every sealed segment.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from paperchat.chunking import head_id
from paperchat.errors import IndexNotReadyError, IndexUnavailableError
from paperchat.index.base import PaperIndex
from paperchat.index.gate import ReadGate, reads
from paperchat.index.schema import (
    DENSE,
    HIT_FIELDS,
    PAYLOAD_INDEXES,
    SPARSE,
    FieldKind,
    Filters,
    Mode,
    QueryVectors,
    StoredPoint,
    dimension_mismatch,
)
from paperchat.index.terms import SqliteTermCounts, term_delta
from paperchat.settings import Settings

log = logging.getLogger(__name__)
WRITE_BATCH = 1024  # points per update: bounds the memory of one conversion to Rust
SCAN_BATCH = 2048
SEAL_CHECK = 8192  # chunks written between two asks to seal the appendable segment
SEGMENTS = 16  # sealed segments kept apart before the optimizer merges the smallest
GRAPH_M = 16  # HNSW links per node once the index has graphs; 0 builds none
COLD = qe.Memory.Cold  # on disk, read through the page cache: the OS bounds what stays in RAM
# Payload indexes of sealed segments memory-mapped too (in RAM they grew with every segment).
KINDS: dict[FieldKind, Callable[[], Any]] = {
    "keyword": lambda: qe.KeywordIndexParams(memory=COLD),
    "integer": lambda: qe.IntegerIndexParams(lookup=True, range=True, memory=COLD),
    "float": lambda: qe.FloatIndexParams(memory=COLD),
    "bool": lambda: qe.BoolIndexParams(memory=COLD),
    "datetime": lambda: qe.DatetimeIndexParams(memory=COLD),
}


def edge_version() -> str:
    return importlib.metadata.version("qdrant-edge-py")


class EdgeIndex(PaperIndex):
    """One Qdrant Edge shard per collection, in a folder this process holds alone."""

    engine = "edge"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._settings = settings
        self.root = settings.qdrant_path / "edge" / self.collection
        self.old_root = settings.qdrant_path  # qdrant-client local mode kept its files here
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_file = _hold_lock(self.root / ".lock", settings.qdrant_path)
        self._shard: qe.EdgeShard | None = None
        self._opening = threading.Lock()
        self.gate = ReadGate()
        self._dim: int | None = None
        self._segment_kb = max(1, round(settings.qdrant.edge_segment_mb * 1024))
        self._graph_bytes = settings.qdrant.edge_graph_mb * 1024 * 1024
        self._unsealed = 0  # chunks written since the last ask to seal
        self.sealing_seconds = 0.0  # spent sealing by this process (benchmarks report it)
        self.terms = SqliteTermCounts(self.root / "terms.sqlite")

    # -- schema and state --------------------------------------------------------------------

    @property
    def _meta_path(self) -> Path:
        return self.root / "collection.json"

    def _meta(self) -> dict[str, Any]:
        try:
            return json.loads(self._meta_path.read_text())
        except FileNotFoundError:
            return {}

    def exists(self) -> bool:
        return self._meta_path.exists()

    @property
    def shard(self) -> qe.EdgeShard:
        if self._shard is None:
            # Concurrent first requests of a server: one opens the shard, the others wait for
            # it (two openers of one WAL would fail, or hold two copies of the index).
            with self._opening:
                if self._shard is None:
                    if not self.exists():
                        raise IndexNotReadyError(self.empty_hint())
                    # With today's configuration: a shard made before it converges to it
                    # (memory-mapped segments, sealing) at its next optimize.
                    config = _config(self.dimension() or 0, self._segment_kb, self.graphs())
                    self._shard = _load(self.root / "shard", config)
        return self._shard

    def ensure(self, dim: int) -> None:
        if self.exists():
            stored = self.dimension()
            if stored != dim:
                raise IndexUnavailableError(dimension_mismatch(self.collection, stored, dim))
            self._index_payload()
            return
        log.info("creating Qdrant Edge shard %s (dim %d)", self.root, dim)
        graphs = not self._graph_bytes  # 0: graphs from the first seal on
        config = _config(dim, self._segment_kb, graphs)
        self._shard = qe.EdgeShard.create(str(self.root / "shard"), config)
        self._index_payload()
        self.terms.replace({})
        # Written last: a folder without it is an interrupted creation, created again.
        _write_json(self._meta_path, {**self.identity, "dim": dim, "graphs": graphs})

    def _index_payload(self) -> None:
        """A payload index for every filter field; fields added since creation get theirs."""
        have = set(self.shard.info().payload_schema)
        for name, kind in PAYLOAD_INDEXES.items():
            if name not in have:
                self.shard.update(qe.UpdateOperation.create_field_index(name, KINDS[kind]()))

    def dimension(self) -> int | None:
        if self._dim is None:  # asked by every query: read once
            self._dim = self._meta().get("dim")
        return self._dim

    def graphs(self) -> bool:
        """True once sealed segments get HNSW graphs (see the module's docstring); shards
        made before this choice existed have them."""
        return bool(self._meta().get("graphs", True))

    def _graphs_due(self) -> bool:
        """Marks the shard for graphs once its dense vectors outgrow `qdrant.edge_graph_mb`;
        True if it did now (the shard must then be opened again)."""
        if self.graphs():
            return False
        dense_bytes = 4 * self.shard.info().points_count * (self.dimension() or 0)
        if dense_bytes <= self._graph_bytes:
            return False
        _write_json(self._meta_path, {**self._meta(), "graphs": True})
        log.info("%s outgrew qdrant.edge_graph_mb: its segments get HNSW graphs", self.collection)
        return True

    def engine_version(self) -> str:
        return f"Qdrant Edge {edge_version()} (embedded, qdrant-edge-py)"

    def optimize(self) -> bool:
        """Qdrant Edge runs no optimizer by itself: its segments stay as written (appendable,
        searched point by point) until asked. Segments past its indexing threshold get
        compact sparse and payload indexes, and an HNSW graph once the index is past
        `qdrant.edge_graph_mb` (the module's docstring); small corpora (the shipped one)
        stay below the threshold, so their search stays exact and this returns at once."""
        if not self.exists():
            return False
        if self._graphs_due():
            with self.gate.alone():
                self._close_shard()  # opened again with the graph configuration
        return self._optimize()

    @reads
    def _optimize(self) -> bool:
        log.info("optimizing the Qdrant Edge shard %s", self.root)
        return self.shard.optimize()

    def _seal_when_due(self, written: int) -> bool:
        """Seals the appendable segment once it has outgrown `qdrant.edge_segment_mb`, then
        opens the shard afresh (see the module's docstring); True if it sealed."""
        self._unsealed += written
        if self._unsealed < SEAL_CHECK:
            return False
        self._unsealed = 0
        started = time.perf_counter()
        if not self.shard.optimize():  # nothing past the threshold: a quick no-op
            return False
        self._graphs_due()  # then closed: opened again with graphs, built at the next seal
        with self.gate.alone():
            self._close_shard()
        took = time.perf_counter() - started
        self.sealing_seconds += took
        log.info("sealed a segment of %s in %.1f s", self.collection, took)
        return True

    def _close_shard(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None

    def close(self) -> None:
        self._close_shard()
        self.terms.close()
        self._lock_file.close()  # releases the lock

    # -- an index of the format before Qdrant Edge -------------------------------------------

    def _old_collection(self) -> Path:
        return self.old_root / "collection" / self.collection / "storage.sqlite"

    def _converting(self) -> Path:
        return self.root / "converting.json"

    def needs_migration(self) -> bool:
        return self._converting().exists() or (
            not self.exists() and self._old_collection().exists()
        )

    def empty_hint(self) -> str:
        if self.needs_migration():
            return (
                f"The index in {self.old_root} was built by an earlier paperchat (qdrant-client "
                "local mode). Run `paperchat ingest` to convert it: its vectors are copied, "
                "nothing is embedded again, and the old files are kept."
            )
        return super().empty_hint()

    def migrate(self) -> int:
        """Copy a qdrant-client local-mode collection of the same identity into the shard.

        Resumable like `index push` (it is one): the state file marks a conversion under way.
        """
        if not self.needs_migration():
            return 0
        from paperchat.index.push import push_index
        from paperchat.index.server import ServerIndex, local_client

        if not self._converting().exists():
            self._converting().write_text("{}")
        client = local_client(self.old_root)
        try:
            report = push_index(ServerIndex(client, self._settings), self, self._converting())
        finally:
            client.close()
        log.warning(
            "converted %d chunks of %s to Qdrant Edge without embedding them again; the old "
            "files in %s are no longer used and can be deleted",
            report.total,
            self.collection,
            self.old_root / "collection",
        )
        return report.total

    # -- writing -----------------------------------------------------------------------------

    @reads
    def retrieve_payloads(self, ids: list[str], fields: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        records = self.shard.retrieve(ids, with_payload=fields, with_vector=False)
        return [r.payload or {} for r in records]

    @reads
    def present_ids(self, ids: list[str]) -> list[str]:
        if not ids:
            return []
        records = self.shard.retrieve(ids, with_payload=False, with_vector=False)
        return [str(r.id) for r in records]

    def write_points(self, points: Sequence[StoredPoint]) -> None:
        for i in range(0, len(points), WRITE_BATCH):
            batch = points[i : i + WRITE_BATCH]
            ids = [p.id for p in batch]
            old = self.shard.retrieve(ids, with_payload=False, with_vector=[SPARSE])
            self.shard.update(qe.UpdateOperation.upsert_points([_point(p) for p in batch]))
            self.terms.apply(term_delta((p.sparse for p in batch), _sparse_of(old)))
            self._seal_when_due(len(batch))

    def delete_stale(self, paper_ids: Collection[str], keep: Mapping[str, str]) -> None:
        ids = list(paper_ids)
        flt = qe.Filter(
            must=[qe.FieldCondition("paper_id", match=qe.MatchAny(ids))],
            must_not=[
                qe.FieldCondition("content_hash", match=qe.MatchAny([keep[p] for p in ids])),
                qe.HasIdCondition({head_id(p) for p in ids}),
            ],
        )
        stale = list(self._scan(flt, with_vector=[SPARSE]))
        if stale:
            self.shard.update(qe.UpdateOperation.delete_points([r.id for r in stale]))
            self.terms.apply(term_delta((), _sparse_of(stale)))

    def update_paper(self, paper_id: str, payload: Mapping[str, object]) -> None:
        flt = qe.Filter(must=[qe.FieldCondition("paper_id", match=qe.MatchValue(paper_id))])
        self.shard.update(qe.UpdateOperation.set_payload_by_filter(flt, dict(payload)))

    # -- reading -----------------------------------------------------------------------------

    @reads
    def count_chunks(self) -> int:
        # The shard's own tally, exact after deletes and overwrites: an exact count request
        # walks every point (36 ms at 250k chunks), and every search asks twice.
        return self.shard.info().points_count if self.exists() else 0

    @reads
    def count_papers(self) -> int:
        if not self.exists():
            return 0
        heads = qe.Filter(must=[qe.FieldCondition("position", match=qe.MatchValue(0))])
        return self.shard.count(qe.CountRequest(exact=True, filter=heads))

    @reads
    def document_frequencies(self, term_ids: Collection[int]) -> tuple[int, dict[int, int]]:
        chunks = self.count_chunks()
        counted, found = self.terms.get(term_ids)
        if counted != chunks:  # a write was cut short between the shard and the counts
            log.warning(
                "term statistics out of step (%d of %d chunks); recounting", counted, chunks
            )
            self.terms.replace(term_delta(_sparse_of(self._scan(None, [SPARSE])), ()))
            counted, found = self.terms.get(term_ids)
        return counted, found

    @reads
    def search_chunks(
        self, vectors: QueryVectors, mode: Mode, limit: int, filters: Filters | None
    ) -> list[tuple[float, dict[str, Any]]]:
        points = self.shard.query(_request(vectors, mode, _filter(filters), limit))
        return [(p.score, p.payload or {}) for p in points]

    @reads
    def facet(self, key: str, limit: int = 1000) -> dict[Any, int]:
        if not self.exists():
            return {}
        request = qe.FacetRequest(key, limit=limit, exact=True, filter=_FIRST)
        return {h.value: h.count for h in self.shard.facet(request).hits}

    @reads
    def heads(
        self, limit: int, offset: Any = None, filters: Filters | None = None
    ) -> tuple[list[dict[str, Any]], Any]:
        if not self.exists():
            return [], None
        flt = _filter(filters)
        request = qe.ScrollRequest(
            offset=offset,
            limit=limit,
            filter=qe.Filter(must=[_FIRST, *([flt] if flt else [])]),
            with_payload=True,
            with_vector=False,
        )
        records, following = self.shard.scroll(request)
        return [dict(r.payload or {}) for r in records], following

    @reads
    def paper_ids_by_names(self, names: Collection[str], limit: int = 10) -> list[str]:
        if not names or not self.exists():
            return []
        flt = qe.Filter(
            must=[
                qe.FieldCondition("names", match=qe.MatchAny(list(names))),
                qe.FieldCondition("position", match=qe.MatchValue(0)),
            ]
        )
        records, _ = self.shard.scroll(
            qe.ScrollRequest(limit=limit, filter=flt, with_payload=["paper_id"], with_vector=False)
        )
        return [str((r.payload or {}).get("paper_id")) for r in records]

    @reads
    def scroll(self, offset: str | None, limit: int) -> tuple[list[StoredPoint], str | None]:
        records, following = self.shard.scroll(
            qe.ScrollRequest(offset=offset, limit=limit, with_payload=True, with_vector=True)
        )
        return [_stored(r) for r in records], None if following is None else str(following)

    def _scan(self, flt: qe.Filter | None, with_vector: list[str] | bool) -> Iterator[qe.Record]:
        offset = None
        while True:
            request = qe.ScrollRequest(
                offset=offset, limit=SCAN_BATCH, filter=flt, with_payload=False,
                with_vector=with_vector,
            )  # fmt: skip
            records, offset = self.shard.scroll(request)
            yield from records
            if offset is None:
                return


def _hold_lock(path: Path, where: Path) -> Any:
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise IndexUnavailableError(
            f"The embedded index at {where} is in use by another paperchat process. Stop that "
            "process (e.g. a running `paperchat serve`), or run a Qdrant server and set "
            "PAPERCHAT_QDRANT_URL so several processes can share the index."
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _config(dim: int, segment_kb: int, graphs: bool) -> qe.EdgeConfig:
    """The shard's configuration: sealed segments memory-mapped, sealed at `segment_kb`,
    with HNSW graphs or without (searched exactly)."""
    return qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine, memory=COLD)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf, memory=COLD)},
        payload_memory=COLD,
        id_tracker_memory=COLD,
        hnsw_config=qe.HnswIndexConfig(
            m=GRAPH_M if graphs else 0, ef_construct=100, full_scan_threshold=10_000, memory=COLD
        ),
        # Qdrant merges segments down to a number set by the CPU count (2 here): each seal
        # would rewrite everything sealed before. Kept apart instead, up to SEGMENTS.
        optimizers=qe.EdgeOptimizersConfig(
            indexing_threshold=segment_kb, default_segment_number=SEGMENTS
        ),
    )


def _load(path: Path, config: qe.EdgeConfig) -> qe.EdgeShard:
    try:
        return qe.EdgeShard.load(str(path), config)
    except Exception as e:  # qdrant-edge raises plain Exception
        raise IndexUnavailableError(
            f"The embedded index at {path} could not be opened ({e}). If it is damaged, delete "
            f"{path.parent} and run `paperchat ingest` to build it again."
        ) from e


def _write_json(path: Path, data: Mapping[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _point(p: StoredPoint) -> qe.Point:
    vector = {DENSE: p.dense, SPARSE: qe.SparseVector(p.sparse[0], p.sparse[1])}
    return qe.Point(p.id, vector, p.payload)


def _stored(r: qe.Record) -> StoredPoint:
    vectors = r.vector if isinstance(r.vector, dict) else {}
    sparse = vectors.get(SPARSE)
    pair = (list(sparse.indices), list(sparse.values)) if sparse is not None else ([], [])
    return StoredPoint(str(r.id), list(vectors.get(DENSE) or []), pair, dict(r.payload or {}))


def _sparse_of(records: Iterator[qe.Record] | list[qe.Record]) -> Iterator[tuple[list[int], list]]:
    for r in records:
        vector = (r.vector or {}).get(SPARSE) if isinstance(r.vector, dict) else None
        if vector is not None:
            yield list(vector.indices), []


_FIRST = qe.Filter(must=[qe.FieldCondition("position", match=qe.MatchValue(0))])


def _filter(filters: Filters | None) -> qe.Filter | None:
    if filters is None:
        return None
    must: list[Any] = [
        qe.FieldCondition(key, match=qe.MatchAny(values))
        for key, values in filters.matches().items()
    ]
    if dates := filters.date_range():
        # Dated inside the range, or known only by a year inside its years.
        first, last = filters.year_range()
        dated = qe.FieldCondition("date", range=qe.RangeDateTime(gte=dates[0], lte=dates[1]))
        by_year = qe.Filter(
            must=[
                qe.IsNullCondition("date"),
                qe.FieldCondition("year", range=qe.RangeFloat(gte=first, lte=last)),
            ]
        )
        must.append(qe.Filter(should=[dated, by_year]))
    return qe.Filter(must=must) if must else None


def _request(v: QueryVectors, mode: Mode, flt: qe.Filter | None, limit: int) -> qe.QueryRequest:
    dense = qe.Query.Nearest(v.dense.tolist(), using=DENSE) if v.dense is not None else None
    sparse = (
        qe.Query.Nearest(qe.SparseVector(v.sparse[0], v.sparse[1]), using=SPARSE)
        if v.sparse
        else None
    )
    if mode != "hybrid":
        query = dense if mode == "dense" else sparse
        return qe.QueryRequest(limit=limit, query=query, filter=flt, with_payload=HIT_FIELDS)
    prefetches = [
        qe.Prefetch(limit=v.prefetch, query=dense, filter=flt),
        qe.Prefetch(limit=v.prefetch, query=sparse, filter=flt),
    ]
    fusion = (
        qe.Fusion.Dbsf()
        if v.fusion == "dbsf"
        else qe.Fusion.Rrf(k=v.rrf_k, weights=list(v.weights))
    )
    return qe.QueryRequest(
        limit=limit, prefetches=prefetches, query=fusion, filter=flt, with_payload=HIT_FIELDS
    )
