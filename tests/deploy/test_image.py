"""The container image: a pinned slim Python 3.11 base, a multi-stage build without the dev
extra, a non-root numeric user, a small build context — and, built with buildah, an image in
which ``chatbot --help`` and ``chatbot migrate`` run as that user."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.deploy.chart import REPO
from tests.deploy.image import build_image, image_config, run_in

DOCKERFILE = (REPO / "Dockerfile").read_text()
DEV_TOOLS = ("pytest", "mypy", "ruff", "fakeredis", "jsonschema", "pip")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuation lines joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")))
    return [(word.upper(), rest.strip()) for word, _, rest in
            (line.strip().partition(" ") for line in joined.splitlines() if line.strip())]


def test_the_base_is_a_pinned_slim_bookworm_python_311() -> None:
    [default] = [args for word, args in instructions() if word == "ARG"
                 and args.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", default), default
    stages = [args for word, args in instructions() if word == "FROM"]
    assert stages == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]


def test_it_installs_the_package_without_dev_extras_and_runs_as_non_root() -> None:
    runs = " ".join(args for word, args in instructions() if word == "RUN")
    assert "pip install /app" in runs and "[dev]" not in runs
    assert ("USER", "10001:10001") in instructions()
    assert ("ENTRYPOINT", '["chatbot"]') in instructions()
    assert ("CMD", '["serve"]') in instructions()
    copied = {source for word, args in instructions() if word == "COPY" and "--from" not in args
              for source in args.split()[:-1]}
    assert {"chatbot", "handlers", "migrations", "setup.py"} <= copied


def test_the_build_context_is_only_what_the_image_needs() -> None:
    rules = [line for line in (REPO / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!chatbot/", "!handlers/", "!migrations/"} <= set(
        rules)
    assert not any(rule.startswith("!") and rule.strip("!/") in {"tests", ".venv", "deploy"}
                   for rule in rules)


@pytest.mark.bench
@pytest.mark.timeout(1200)
async def test_the_image_builds_and_the_cli_runs_as_a_non_root_user() -> None:
    image = await asyncio.to_thread(build_image)

    config = json.loads(await asyncio.to_thread(image_config, image))
    assert config["OCIv1"]["config"]["User"] == "10001:10001"
    assert config["OCIv1"]["config"]["Entrypoint"] == ["chatbot"]
    assert config["OCIv1"]["config"]["Cmd"] == ["serve"]

    help_text = await asyncio.to_thread(run_in, image, "chatbot", "--help")
    assert help_text.returncode == 0 and "migrate" in help_text.stdout, help_text.stderr
    whoami = await asyncio.to_thread(run_in, image, "id", "-u")
    assert whoami.stdout.strip() == "10001"
    migrated = await asyncio.to_thread(run_in, image, "chatbot", "migrate")
    assert migrated.returncode == 0 and "database at revision" in migrated.stdout, (
        migrated.stdout + migrated.stderr)
    probe = f"import importlib.util as u; print([m for m in {DEV_TOOLS!r} if u.find_spec(m)])"
    installed = await asyncio.to_thread(run_in, image, "python", "-c", probe)
    assert installed.stdout.strip() == "[]", installed.stdout + installed.stderr
