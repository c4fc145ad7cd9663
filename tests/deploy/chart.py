"""Rendering the Helm chart under deploy/helm with the bench's ``helm``, for the deploy tests:
``helm lint``, ``helm template`` into a list of manifests, and picking objects out of it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testbench.paths import cache_dir

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "flow-approval-chatbot"
PRODUCTION_VALUES = REPO / "deploy" / "helm" / "values-production.yaml"

Manifest = dict[str, Any]
Sets = Mapping[str, str] | None
"""``--set key=value`` pairs."""


@dataclass(frozen=True)
class HelmRun:
    returncode: int
    output: str
    """stdout and stderr together, as a person would read them."""


def helm(binary: Path, *args: str) -> HelmRun:
    # A HOME of its own: helm keeps repository and registry settings there, and the tests
    # must not read (or write) the developer's.
    done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120,
                          check=False, env={"HOME": str(cache_dir("helm", "home"))})
    return HelmRun(done.returncode, done.stdout + done.stderr)


# What every install must give (the image, an approver), as a values file given first.
REQUIRED_VALUES = REPO / "tests" / "deploy" / "required-values.yaml"


def value_args(values: Sequence[Path] = (), sets: Sets = None, *,
               required: bool = True) -> list[str]:
    files = [REQUIRED_VALUES, *values] if required else list(values)
    args = [arg for path in files for arg in ("--values", str(path))]
    args += [arg for key, value in (sets or {}).items() for arg in ("--set", f"{key}={value}")]
    return args


def lint(binary: Path, *, values: Sequence[Path] = (), sets: Sets = None) -> HelmRun:
    return helm(binary, "lint", str(CHART), "--strict", *value_args(values, sets))


def template(binary: Path, *, release: str = "chatbot", namespace: str = "flow-approval",
             values: Sequence[Path] = (), sets: Sets = None, required: bool = True) -> HelmRun:
    """``required=False`` leaves out :data:`REQUIRED_VALUES`, as a bare install would."""
    return helm(binary, "template", release, str(CHART), "--namespace", namespace,
                *value_args(values, sets, required=required))


def render(binary: Path, *, release: str = "chatbot", namespace: str = "flow-approval",
           values: Sequence[Path] = (), sets: Sets = None) -> list[Manifest]:
    """The manifests ``helm template`` renders (hooks included); fails the test on an error."""
    run = template(binary, release=release, namespace=namespace, values=values, sets=sets)
    assert run.returncode == 0, f"helm template failed:\n{run.output}"
    return [doc for doc in yaml.safe_load_all(run.output) if doc]


def of_kind(manifests: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: Iterable[Manifest], kind: str) -> Manifest:
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(deployment: Manifest, name: str = "chatbot") -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


def env_of(container_spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container_spec.get("env", [])}
