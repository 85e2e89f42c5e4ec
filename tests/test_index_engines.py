"""The index contract, run over both engines: Qdrant Edge (embedded) and the server engine.

qdrant-client's local mode stands in for a Qdrant server. Both engines ingest the same
listing with the real embedder and must answer alike: same papers, same counts, same term
statistics, same filters.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from paperchat.chunking import Chunker
from paperchat.cli import main
from paperchat.corpus import paper_id_for, parse_file
from paperchat.embedding import make_embedder, sparse_document, term_id, words
from paperchat.errors import IndexNotReadyError, IndexUnavailableError
from paperchat.index import PAYLOAD_INDEXES, Filters, PaperIndex
from paperchat.index import edge as edge_module
from paperchat.index.edge import EdgeIndex
from paperchat.index.push import push_index
from paperchat.index.schema import CHUNK_FIELDS, group_chunks, payload_meta
from paperchat.index.server import ServerIndex, local_client
from paperchat.ingest import Ingestor
from paperchat.names import paper_names
from paperchat.pipeline import Pipeline
from paperchat.retrieval import Retriever
from paperchat.settings import SHIPPED_CORPUS, IngestSettings, Settings

LISTING = SHIPPED_CORPUS / "listing-4-mar-13.txt"
ENGINES = ("edge", "server")
QUESTIONS = (
    "speech language model without real audio",
    "vision-language pre-training",
    "reinforcement learning from human feedback",
)


def open_engine(engine: str, settings: Settings) -> PaperIndex:
    if engine == "edge":
        return EdgeIndex(settings)
    return ServerIndex(QdrantClient(location=":memory:"), settings)


class Harness:
    """An engine with the ingest and retrieval stages around it."""

    def __init__(self, engine: str, data_dir: Path) -> None:
        self.settings = Settings(data_dir=data_dir)
        self.index = open_engine(engine, self.settings)
        embedder = make_embedder("all-MiniLM-L6-v2")
        self.ingestor = Ingestor(self.index, Chunker(128, 32), lambda: embedder)
        self.retriever = Retriever(self.index, embedder, self.settings.retrieval)


@pytest.fixture(scope="module")
def harnesses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Harness]]:
    built = {e: Harness(e, tmp_path_factory.mktemp(e)) for e in ENGINES}
    for h in built.values():
        assert h.ingestor.run([LISTING]).files[0].new == 60
    yield built
    for h in built.values():
        h.index.close()


@pytest.fixture(params=ENGINES)
def harness(request: pytest.FixtureRequest, harnesses: dict[str, Harness]) -> Harness:
    return harnesses[request.param]


@pytest.fixture(params=ENGINES)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(request.param, tmp_path / request.param)
    yield h
    h.index.close()


def test_counts_and_completeness(harness: Harness) -> None:
    papers = list(parse_file(LISTING, []))
    chunker = Chunker(128, 32)
    assert harness.index.count_papers() == 60
    assert harness.index.count_chunks() == sum(len(chunker.split(p)) for p in papers)
    stored = harness.index.stored([p.paper_id for p in papers])
    assert len(stored) == 60 and all(s.complete for s in stored.values())


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_both_engines_return_the_same_papers(harnesses: dict[str, Harness], mode: str) -> None:
    for question in QUESTIONS:
        edge, server = (harnesses[e].retriever.search(question, k=5, mode=mode) for e in ENGINES)
        assert [h.paper_id for h in edge] == [h.paper_id for h in server]
        assert [h.chunks for h in edge] == [h.chunks for h in server]
        for a, b in zip(edge, server, strict=True):
            assert a.score == pytest.approx(b.score, rel=1e-3, abs=1e-4)
            assert a.relevance == pytest.approx(b.relevance, abs=1e-4)
            assert a.coverage == pytest.approx(b.coverage)


def test_equal_scores_group_the_same_whatever_order_the_engine_returns() -> None:
    # A rank fusion ties often; the engine's order of ties varies from process to process.
    chunks = [(0.5, {"paper_id": p, "text": t}) for p, t in [("c", "x"), ("a", "y"), ("b", "z")]]
    chunks += [(0.9, {"paper_id": "d", "text": "w"}), (0.5, {"paper_id": "a", "text": "v"})]
    groups = group_chunks(chunks, 3, 2)
    assert list(groups) == ["d", "a", "b"]
    assert [p["text"] for _, p in groups["a"]] == ["v", "y"]
    assert group_chunks(list(reversed(chunks)), 3, 2) == groups


def test_hits_are_whole_papers_ranked(harness: Harness) -> None:
    hits = harness.retriever.search("speech tokens synthetic interleaved data", k=5)
    assert len({h.paper_id for h in hits}) == len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(1 <= len(h.chunks) <= 2 and h.text == h.chunks[0] for h in hits)


def test_document_frequencies_match_a_count_of_the_chunks(harness: Harness) -> None:
    chunker = Chunker(128, 32)
    chunks = [c for p in parse_file(LISTING, []) for c in chunker.split(p)]
    oracle = Counter(t for c in chunks for t in set(sparse_document(c.embed_text)[0]))
    ids = [term_id(t) for t in words("speech model training benchmark zebra")]
    total, df = harness.index.document_frequencies(ids)
    assert total == len(chunks)
    assert df == {t: oracle[t] for t in ids if oracle[t]}


def test_term_statistics_follow_edits_without_a_scan(fresh: Harness, tmp_path: Path) -> None:
    source = tmp_path / "papers.jsonl"
    old = {"title": "Grazing animals", "abstract": "Zebras graze on savanna grass. " * 5}
    source.write_text(json.dumps(old) + "\n")
    fresh.ingestor.run([source])
    zebra, okapi = term_id("zebra"), term_id("okapi")
    assert fresh.index.document_frequencies([zebra, okapi]) == (1, {zebra: 1})
    new = {**old, "abstract": "Okapis live in forests. " * 5}
    source.write_text(json.dumps(new) + "\n")
    assert fresh.ingestor.run([source]).files[0].updated == 1
    # A query reads the counts kept at write time; scanning the collection would fail here.
    fresh.index._scan = None  # type: ignore[method-assign]
    assert fresh.index.document_frequencies([zebra, okapi]) == (1, {okapi: 1})


def test_filters_by_source_date_and_paper(harness: Harness) -> None:
    only = Filters(sources=("listing-4-mar-13.txt",))
    hits = harness.retriever.search("language models", k=5, filters=only)
    assert hits and all("listing-4-mar-13.txt" in h.sources for h in hits)
    assert harness.retriever.search("language models", filters=Filters(sources=("x",))) == []
    dated = [h for h in harness.retriever.search("language models", k=20) if h.date]
    if dated:
        day = dated[0].date
        same = harness.retriever.search(
            "language models", k=20, filters=Filters(date_from=day, date_to=day)
        )
        assert same and all(h.date == day for h in same)
    pid = harness.retriever.search("speech", k=3)[2].paper_id
    (hit,) = harness.retriever.search("speech", k=3, filters=Filters(paper_ids=(pid,)))
    assert hit.paper_id == pid


def test_edge_keeps_a_payload_index_for_every_filter_field(harnesses) -> None:
    schema = harnesses["edge"].index.shard.info().payload_schema
    assert set(PAYLOAD_INDEXES) <= set(schema)


def test_optimizing_leaves_a_small_index_exact_and_as_it_was(harness: Harness) -> None:
    before = [harness.retriever.search(q, k=5) for q in QUESTIONS]
    assert harness.index.optimize() is False  # below the indexing threshold: nothing to build
    assert [harness.retriever.search(q, k=5) for q in QUESTIONS] == before


def test_papers_are_found_by_name(fresh: Harness, tmp_path: Path) -> None:
    source = tmp_path / "named.jsonl"
    titles = ("ELECTRA: discriminators", "RisingBALLER: players as tokens")
    source.write_text("".join(json.dumps({"title": t, "abstract": t * 4}) + "\n" for t in titles))
    fresh.ingestor.run([source])
    electra, rising = (paper_names(t)[0] for t in titles)
    assert fresh.index.paper_ids_by_names([electra]) == [paper_id_for(titles[0])]
    found = fresh.index.paper_ids_by_names([electra, rising, "bert"])
    assert sorted(found) == sorted(paper_id_for(t) for t in titles)
    assert fresh.index.paper_ids_by_names(["bert"]) == []


def test_push_copies_the_index_and_resumes_after_an_interruption(
    harnesses: dict[str, Harness], tmp_path: Path
) -> None:
    edge = harnesses["edge"]
    target = ServerIndex(QdrantClient(location=":memory:"), edge.settings)
    state, total, seen = tmp_path / "push.json", edge.index.count_chunks(), []

    def interrupted(done: int, of: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise KeyboardInterrupt  # Ctrl-C, or a lost connection, after two batches

    with pytest.raises(KeyboardInterrupt):
        push_index(edge.index, target, state, batch=50, progress=interrupted)
    assert state.exists() and target.count_chunks() == 100 < total
    report = push_index(edge.index, target, state, batch=50)
    assert (report.resumed_at, report.copied, report.total) == (100, total - 100, total)
    assert target.count_chunks() == total and not state.exists()
    assert target.count_papers() == 60
    served = Retriever(target, edge.retriever.embedder, edge.settings.retrieval)
    for question in QUESTIONS:
        assert [h.paper_id for h in served.search(question)] == [
            h.paper_id for h in edge.retriever.search(question)
        ]
    ids = [term_id(t) for t in words("speech model training")]
    assert target.document_frequencies(ids) == edge.index.document_frequencies(ids)


def test_push_of_an_empty_index_says_what_to_run(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(tmp_path))
    assert main(["index", "push", "--to", "http://127.0.0.1:9", "-q"]) == 2
    err = capsys.readouterr().err
    assert "paperchat ingest" in err and "Traceback" not in err


# -- embedded-only behaviour -----------------------------------------------------------------


def test_second_opener_of_the_embedded_index_gets_a_clear_message(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    holder = EdgeIndex(settings)
    try:
        with pytest.raises(IndexUnavailableError, match="in use by another paperchat process"):
            EdgeIndex(settings)
    finally:
        holder.close()
    EdgeIndex(settings).close()  # released on close


def test_old_format_folder_is_explained_then_converted(tmp_path: Path, capsys, monkeypatch):
    settings = Settings(data_dir=tmp_path)
    client = local_client(settings.qdrant_path)  # how paperchat stored its index before
    old = ServerIndex(client, settings)
    embedder = make_embedder("all-MiniLM-L6-v2")
    Ingestor(old, Chunker(128, 32), lambda: embedder).run([LISTING])
    chunks, question = old.count_chunks(), QUESTIONS[0]
    expected = [h.paper_id for h in Retriever(old, embedder, settings.retrieval).search(question)]
    client.close()

    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(tmp_path))
    assert main(["search", question]) == 2
    err = capsys.readouterr().err
    assert "earlier paperchat" in err and "`paperchat ingest`" in err
    assert "Traceback" not in err

    def no_embedding() -> None:
        raise AssertionError("the conversion must not embed again")

    pipeline = Pipeline(settings)
    try:
        report = Ingestor(pipeline.index, pipeline.chunker, no_embedding).run([LISTING])
        assert report.chunks == 0 and report.files[0].unchanged == 60
        assert pipeline.index.count_chunks() == chunks
        assert [h.paper_id for h in pipeline.retriever.search(question)] == expected
    finally:
        pipeline.close()
    assert (settings.qdrant_path / "collection").is_dir()  # the old files are left alone


def test_search_on_a_missing_index_names_the_command(tmp_path: Path) -> None:
    pipeline = Pipeline(Settings(data_dir=tmp_path))
    try:
        with pytest.raises(IndexNotReadyError, match="paperchat ingest"):
            pipeline.retriever.search("anything")
    finally:
        pipeline.close()


def test_serve_while_another_process_holds_the_index_is_one_clear_error(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(tmp_path))
    holder = EdgeIndex(Settings(data_dir=tmp_path))  # as a running `paperchat serve` would
    try:
        assert main(["serve", "--port", "9", "--backend", "extractive"]) == 2
    finally:
        holder.close()
    err = capsys.readouterr().err
    assert "in use by another paperchat process" in err and "Traceback" not in err


FORMATS = Path(__file__).parent / "data" / "formats"


def test_metadata_filters_facets_and_heads_on_both_engines(fresh: Harness) -> None:
    files = [FORMATS / "listing.txt", FORMATS / "library.bib", FORMATS / "arxiv.jsonl"]
    fresh.ingestor.run(files)

    def titles(**given: object) -> set[str]:
        hits = fresh.retriever.search("pre-training models", k=10, filters=Filters.of(**given))
        return {h.title for h in hits}

    assert titles(categories=["hep-th", "cs.LG"]) == {
        "Attention Is All You Need",
        "A Note on Strings in Two Dimensions",
    }
    assert len(titles(authors=["müller"])) == 1  # a last name, any case
    # One paper is known by its year only (2019), another by its date (2020-03-23).
    assert len(titles(since="2019-06", until="2020-03-31")) == 2
    assert fresh.index.facet("year") == {1999: 1, 2014: 1, 2017: 1, 2019: 1, 2020: 1}
    assert sum(fresh.index.facet("sources").values()) == 8
    heads, _ = fresh.index.heads(10, filters=Filters.of(categories=["cs.LG"]))
    assert [h["title"] for h in heads] == ["Attention Is All You Need"]
    pid = heads[0]["paper_id"]
    fresh.index.update_paper(pid, {"venue": "NeurIPS"})
    (stored,) = fresh.index.stored([pid]).values()
    assert stored.meta.venue == "NeurIPS" and stored.meta.categories


def test_concurrent_first_searches_open_the_shard_once(tmp_path: Path, monkeypatch) -> None:
    settings = Settings(data_dir=tmp_path)
    embedder = make_embedder("all-MiniLM-L6-v2")
    index = EdgeIndex(settings)
    Ingestor(index, Chunker(128, 32), lambda: embedder).run([FORMATS / "listing.txt"])
    expected = [h.paper_id for h in Retriever(index, embedder, settings.retrieval).search("tokens")]
    index.close()

    opened: list[int] = []
    real_load = edge_module._load

    def slow_load(path: Path, config: object) -> object:  # widens the window of a race
        opened.append(threading.get_ident())
        time.sleep(0.2)
        return real_load(path, config)

    monkeypatch.setattr(edge_module, "_load", slow_load)
    index = EdgeIndex(settings)  # as a server starts: the shard opens on its first search
    retriever = Retriever(index, embedder, settings.retrieval)
    start = threading.Barrier(8)

    def first_search(_: int) -> list[str]:
        start.wait()
        return [h.paper_id for h in retriever.search("tokens")]

    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(first_search, range(8)))
    finally:
        index.close()
    assert len(opened) == 1
    assert results == [expected] * 8


def test_chunks_carry_the_filter_fields_and_hits_read_the_rest_from_the_head(
    harness: Harness,
) -> None:
    points, offset = [], None
    while True:
        page, offset = harness.index.scroll(offset, 100)
        points += page
        if offset is None:
            break
    heads = {p.payload["paper_id"]: p.payload for p in points if p.payload["position"] == 0}
    others = [p.payload for p in points if p.payload["position"]]
    assert others and len(heads) == 60
    assert all(set(p) == {*CHUNK_FIELDS, "text", "position"} for p in others)
    assert all(p[f] == heads[p["paper_id"]][f] for p in others for f in CHUNK_FIELDS)
    # A question made of a later chunk's words finds that chunk first; its hit still carries
    # the paper's title, links and metadata, read from the head.
    later = max(others, key=lambda p: len(p["text"]))
    (hit,) = harness.retriever.search(later["text"], k=1, mode="sparse")
    head = heads[later["paper_id"]]
    assert hit.text == later["text"] != head["text"]
    assert (hit.paper_id, hit.title, list(hit.urls)) == (
        head["paper_id"], head["title"], head["urls"],
    )  # fmt: skip
    assert hit.meta == payload_meta(head)


def _graph_links(index: EdgeIndex) -> list[int]:
    """Per sealed segment, the links per node of its dense HNSW graph (0: none), as Qdrant
    Edge records them beside the graph."""
    segments = index.root / "shard" / "segments"
    configs = segments.glob("*/vector_index-dense/hnsw_config.json")
    return [json.loads(path.read_text())["m"] for path in configs]


@pytest.mark.parametrize("graph_mb", [100.0, 0.1, 0.0])
def test_a_small_segment_size_seals_while_writing_and_search_is_unchanged(
    harnesses: dict[str, Harness], tmp_path: Path, monkeypatch, graph_mb: float
) -> None:
    """The memory bound: with `edge_segment_mb` small, the shard seals its appendable segment
    into memory-mapped ones while the ingest writes (and reopens), as 100k papers do at 10 MB;
    a server's searches meanwhile never fail, and the sealed index answers as the unsealed.
    Sealed segments get HNSW graphs only once the index outgrows `edge_graph_mb` (0.1 MB:
    about 70 chunks of 384 dimensions; 0: from the first seal), and then every one of them
    has its graph."""
    monkeypatch.setattr(edge_module, "SEAL_CHECK", 40)  # ask every 40 chunks, not 8192
    qdrant = {"edge_segment_mb": 0.05, "edge_graph_mb": graph_mb}  # seals about every 35 chunks
    settings = Settings(data_dir=tmp_path, qdrant=qdrant)
    index = EdgeIndex(settings)
    unsealed = harnesses["edge"]
    embedder = unsealed.retriever.embedder
    retriever = Retriever(index, embedder, settings.retrieval)
    batches = IngestSettings(batch_papers=8)
    ingestor = Ingestor(index, Chunker(128, 32), lambda: embedder, settings=batches)
    done, failures = threading.Event(), []

    def search_meanwhile() -> None:
        while not done.is_set():
            try:
                retriever.search(QUESTIONS[0])
            except IndexNotReadyError:
                time.sleep(0.01)  # before the first batch lands
            except Exception as e:  # any other failure is the finding
                failures.append(e)

    reader = threading.Thread(target=search_meanwhile)
    reader.start()
    try:
        ingestor.run([LISTING])
    finally:
        done.set()
        reader.join()
    try:
        assert failures == []
        assert index.shard.info().segments_count >= 3  # sealed more than once
        index.optimize()  # as `paperchat ingest` ends
        links = _graph_links(index)
        assert len(links) >= 2
        assert index.graphs() is (graph_mb < 1)
        assert set(links) == ({edge_module.GRAPH_M} if graph_mb < 1 else {0})
        assert index.count_chunks() == unsealed.index.count_chunks()
        ids = [term_id(t) for t in words("speech model training benchmark")]
        assert index.document_frequencies(ids) == unsealed.index.document_frequencies(ids)
        for question in QUESTIONS:
            for mode in ("hybrid", "sparse", "dense"):
                sealed = retriever.search(question, k=5, mode=mode)
                plain = unsealed.retriever.search(question, k=5, mode=mode)
                assert [(h.paper_id, h.chunks) for h in sealed] == [
                    (h.paper_id, h.chunks) for h in plain
                ]
    finally:
        index.close()
