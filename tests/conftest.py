"""Shared fixtures: every test runs offline with its state in temporary folders.

Ingesting the shipped corpus with the real embedder takes a minute on a small machine, so one
ingested index is built per test session (`ingested_settings`) and shared, read-only, by the
tests that only search or answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from live_server import copy_qdrant
from paperchat.pipeline import Pipeline
from paperchat.settings import SHIPPED_CORPUS, Settings

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
KEEP_ENV = ("PAPERCHAT_TEST_", "PAPERCHAT_REQUIRE_")  # test-run switches, not settings


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PAPERCHAT_* setting of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("PAPERCHAT_") and not name.startswith(KEEP_ENV):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env file is read


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Converted local models, shared by the session (conversion takes seconds)."""
    shared = os.environ.get("PAPERCHAT_TEST_MODELS_DIR")
    return Path(shared) if shared else tmp_path_factory.mktemp("models")


def make_settings(data_dir: Path, **sections: object) -> Settings:
    return Settings(data_dir=data_dir, **sections)


@pytest.fixture(scope="session")
def ingested_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose embedded index holds the whole shipped corpus.

    PAPERCHAT_TEST_INGESTED_DIR names a data dir already ingested from the shipped corpus
    (`paperchat ingest`): it is copied instead of ingesting again, which saves minutes.
    """
    data_dir = tmp_path_factory.mktemp("ingested")
    prepared = os.environ.get("PAPERCHAT_TEST_INGESTED_DIR")
    if prepared:
        copy_qdrant(Path(prepared), data_dir)
        return data_dir
    pipeline = Pipeline(Settings(data_dir=data_dir))
    try:
        report = pipeline.ingestor.run([SHIPPED_CORPUS])
        assert report.ok, report
    finally:
        pipeline.close()
    return data_dir


@pytest.fixture(scope="session")
def ingested_settings(ingested_dir: Path) -> Settings:
    """Settings pointing at the shared ingested index (open it with one Pipeline at a time)."""
    return Settings(data_dir=ingested_dir)


@pytest.fixture
def index_copy(ingested_dir: Path, tmp_path: Path) -> Settings:
    """A private copy of the ingested index, for tests that write or run another process."""
    target = tmp_path / "copy"
    copy_qdrant(ingested_dir, target)
    return Settings(data_dir=target)


@pytest.fixture(scope="session")
def ingested(ingested_settings: Settings) -> Iterator[Pipeline]:
    """One pipeline on the shared index for the whole session (the folder admits one client)."""
    pipeline = Pipeline(ingested_settings)
    yield pipeline
    pipeline.close()
