"""Building ``kubectl`` for the deploy story (it runs the README's ``kubectl`` lines as
written): ``k8s.io/kubernetes/cmd/kubectl`` at the control plane's version, from the Go
module proxy, once, into the cache outside the repository; later runs find the stamp."""

from __future__ import annotations

import fcntl
from pathlib import Path

from testbench.kube_build import (
    _STAGING_LINE,
    KUBERNETES_VERSION,
    STAGING_VERSION,
    _build_once,
    _downloaded_gomod,
    _go,
    _go_binary,
    _is_built,
    version_ldflags,
)
from testbench.paths import cache_dir
from testbench.process import BenchError

COMPONENT = "kubectl"


def install() -> Path:
    """Build kubectl into the cache unless a previous build finished; returns its path."""
    root = cache_dir("kubectl", f"kubectl-v{KUBERNETES_VERSION}")
    binary = root / "bin" / "kubectl"
    if _is_built(root, COMPONENT, binary):
        return binary
    go = _go_binary()
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _build_once(COMPONENT, root, binary, lambda work, log: _build(go, work, log, binary))
    return binary


def _build(go: Path, work: Path, log: Path, binary: Path) -> None:
    module = f"k8s.io/kubernetes@v{KUBERNETES_VERSION}"
    _go(COMPONENT, go, work, log, "mod", "init", "benchbuild")
    gomod = _downloaded_gomod(go, work, log, module)
    # As for kube-apiserver: point the staging modules at their published versions.
    replaces = [f"-replace={name}={name}@v{STAGING_VERSION}"
                for name in sorted(set(_STAGING_LINE.findall(gomod.read_text())))]
    if not replaces:
        raise BenchError(COMPONENT, f"no staging modules found in {gomod}", log)
    _go(COMPONENT, go, work, log, "mod", "edit", *replaces)
    (work / "tools.go").write_text("package main\n")
    command = "k8s.io/kubernetes/cmd/kubectl"
    _go(COMPONENT, go, work, log, "get", f"{command}@v{KUBERNETES_VERSION}")
    _go(COMPONENT, go, work, log, "build", "-ldflags", version_ldflags(), "-o", str(binary),
        command)
