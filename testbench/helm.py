"""Building the Helm CLI the deploy tests lint and render the chart with: ``helm.sh/helm/v3``
from the Go module proxy, once, into the cache outside the repository (like the control plane
in ``kube_build.py``); later runs find the stamp and skip the build."""

from __future__ import annotations

import fcntl
import re
import shutil
import time
from pathlib import Path

from testbench.paths import cache_dir
from testbench.process import BenchError, progress, run_checked

HELM_VERSION = "3.22.0"
HELM_MODULE = "helm.sh/helm/v3"
GO_FALLBACK = Path("/usr/local/go/bin/go")
COMPONENT = "helm"

_CLIENT_GO = re.compile(r"^\s*k8s\.io/client-go v0\.(\d+)\.\d+", re.MULTILINE)


def install() -> Path:
    """Build ``helm`` into the cache unless a previous build finished; returns its path."""
    root = cache_dir("helm", f"helm-{HELM_VERSION}")
    binary = root / "bin" / "helm"
    if _is_built(root, binary):
        return binary
    go = _go_binary()
    # Test sessions may start side by side; one builds while the others wait for its stamp.
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _is_built(root, binary):
            _build(go, root, binary)
    return binary


def _build(go: Path, root: Path, binary: Path) -> None:
    stamp = _stamp(root)
    stamp.unlink(missing_ok=True)
    work = root / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = root / "build.log"
    log.unlink(missing_ok=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    progress(f"building helm v{HELM_VERSION} with Go (a few minutes on a cold cache; log: {log})")
    started = time.monotonic()
    _go(go, work, log, "mod", "init", "benchbuild")
    (work / "tools.go").write_text("package main\n")
    command = f"{HELM_MODULE}/cmd/helm"
    _go(go, work, log, "get", f"{command}@v{HELM_VERSION}")
    _go(go, work, log, "build", "-ldflags", _ldflags(work, log), "-o", str(binary), command)
    if not binary.exists():
        raise BenchError(COMPONENT, f"the build finished but {binary} is missing", log)
    stamp.write_text(f"built in {time.monotonic() - started:.0f}s\n")
    progress(f"built helm in {time.monotonic() - started:.0f}s")


def _ldflags(work: Path, log: Path) -> str:
    """What helm's Makefile stamps in: its own version, and the Kubernetes version `helm
    template` and `helm lint` assume (from the client-go it was built with); without the
    latter a chart's kubeVersion constraint is checked against Kubernetes 1.20."""
    found = _CLIENT_GO.search((work / "go.mod").read_text())
    if found is None:
        raise BenchError(COMPONENT, "no k8s.io/client-go version in the wrapper's go.mod", log)
    minor = found.group(1)
    flags = ["-s", "-w", f"-X {HELM_MODULE}/internal/version.version=v{HELM_VERSION}"]
    for package in ("pkg/lint/rules", "pkg/chartutil"):
        flags += [f"-X {HELM_MODULE}/{package}.k8sVersionMajor=1",
                  f"-X {HELM_MODULE}/{package}.k8sVersionMinor={minor}"]
    return " ".join(flags)


def _go_binary() -> Path:
    found = shutil.which("go")
    if found:
        return Path(found)
    if GO_FALLBACK.exists():
        return GO_FALLBACK
    raise BenchError(COMPONENT, "the Go toolchain (go) is not installed or not on PATH")


def _go(go: Path, work: Path, log: Path, *args: str) -> None:
    # A wrapper module must resolve its own dependencies, whatever the caller's environment says.
    env = {"GOFLAGS": "-mod=mod -buildvcs=false", "GOWORK": "off", "CGO_ENABLED": "0"}
    run_checked(COMPONENT, [str(go), *args], log=log, cwd=work, env=env)


def _is_built(root: Path, binary: Path) -> bool:
    return _stamp(root).exists() and binary.exists()


def _stamp(root: Path) -> Path:
    # Written only after a complete build, so an interrupted one is redone.
    return root / "helm.built"
