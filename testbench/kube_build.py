"""Building the bench's Kubernetes control plane (etcd and kube-apiserver) from source with Go,
once, into the cache outside the repository; later runs find the stamp and skip the build."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbench.paths import cache_dir
from testbench.process import BenchError, progress, run_checked

ETCD_VERSION = "3.6.16"
KUBERNETES_VERSION = "1.34.4"
# Kubernetes publishes its staging modules (k8s.io/api, ...) as v0.<minor>.<patch>.
STAGING_VERSION = "0." + KUBERNETES_VERSION.split(".", 1)[1]
GO_FALLBACK = Path("/usr/local/go/bin/go")
# The binary carries its version (as a release build does), so /version answers v1.34.4 and
# clients that check it — helm's kubeVersion constraint, kubectl's skew warning — see a
# real cluster. A new name, so a build never overwrites a binary a running bench executes.
APISERVER = f"kube-apiserver-v{KUBERNETES_VERSION}"
VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")

_STAGING_LINE = re.compile(r"^\s*(k8s\.io/[A-Za-z0-9._-]+)\s+=>\s+\./staging/", re.MULTILINE)


@dataclass(frozen=True)
class KubeBinaries:
    """Paths of the built control-plane binaries."""

    etcd: Path
    kube_apiserver: Path


def install() -> KubeBinaries:
    """Build etcd and kube-apiserver into the cache unless a previous build finished."""
    root = cache_dir("kube", f"etcd-{ETCD_VERSION}_kubernetes-{KUBERNETES_VERSION}")
    binaries = KubeBinaries(
        etcd=root / "bin" / "etcd", kube_apiserver=root / "bin" / APISERVER
    )
    if _is_built(root, "etcd", binaries.etcd) and _is_built(
        root, APISERVER, binaries.kube_apiserver
    ):
        return binaries
    go = _go_binary()
    # Test sessions may start side by side; one builds while the others wait for its stamp.
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _build_once(
            "etcd", root, binaries.etcd, lambda work, log: _build_etcd(go, work, log, binaries.etcd)
        )
        _build_once(
            APISERVER,
            root,
            binaries.kube_apiserver,
            lambda work, log: _build_kube_apiserver(go, work, log, binaries.kube_apiserver),
        )
    return binaries


def _go_binary() -> Path:
    found = shutil.which("go")
    if found:
        return Path(found)
    if GO_FALLBACK.exists():
        return GO_FALLBACK
    raise BenchError("kube build", "the Go toolchain (go) is not installed or not on PATH")


def _build_once(
    component: str,
    root: Path,
    binary: Path,
    build: Callable[[Path, Path], None],
) -> None:
    if _is_built(root, component, binary):
        return
    stamp = _stamp(root, component)
    stamp.unlink(missing_ok=True)
    work = root / f"build-{component}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = root / f"build-{component}.log"
    log.unlink(missing_ok=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    progress(f"building {component} with Go (several minutes on a cold cache; log: {log})")
    started = time.monotonic()
    build(work, log)
    if not binary.exists():
        raise BenchError(component, f"the build finished but {binary} is missing", log)
    stamp.write_text(f"built in {time.monotonic() - started:.0f}s\n")
    progress(f"built {component} in {time.monotonic() - started:.0f}s")


def _is_built(root: Path, component: str, binary: Path) -> bool:
    return _stamp(root, component).exists() and binary.exists()


def _stamp(root: Path, component: str) -> Path:
    # Written only after a complete build, so an interrupted one is redone.
    return root / f"{component}.built"


def _go(component: str, go: Path, work: Path, log: Path, *args: str) -> None:
    run_checked(component, [str(go), *args], log=log, cwd=work, env=_go_env())


def _go_env() -> dict[str, str]:
    # A wrapper module must resolve its own dependencies, whatever the caller's environment says.
    return {"GOFLAGS": "-mod=mod -buildvcs=false", "GOWORK": "off", "CGO_ENABLED": "0"}


def _build_etcd(go: Path, work: Path, log: Path, binary: Path) -> None:
    component = "etcd"
    _go(component, go, work, log, "mod", "init", "benchbuild")
    (work / "tools.go").write_text("package main\n")
    _go(component, go, work, log, "get", f"go.etcd.io/etcd/server/v3@v{ETCD_VERSION}")
    _go(component, go, work, log, "build", "-o", str(binary), "go.etcd.io/etcd/server/v3")


def _build_kube_apiserver(go: Path, work: Path, log: Path, binary: Path) -> None:
    component = "kube-apiserver"
    module = f"k8s.io/kubernetes@v{KUBERNETES_VERSION}"
    _go(component, go, work, log, "mod", "init", "benchbuild")
    gomod = _downloaded_gomod(go, work, log, module)
    # k8s.io/kubernetes points its staging modules at ./staging, which does not exist outside
    # its own tree; the published versions of those modules are the same code.
    replaces = [
        f"-replace={name}={name}@v{STAGING_VERSION}"
        for name in sorted(set(_STAGING_LINE.findall(gomod.read_text())))
    ]
    if not replaces:
        raise BenchError(component, f"no staging modules found in {gomod}", log)
    _go(component, go, work, log, "mod", "edit", *replaces)
    (work / "tools.go").write_text("package main\n")
    command = "k8s.io/kubernetes/cmd/kube-apiserver"
    _go(component, go, work, log, "get", f"{command}@v{KUBERNETES_VERSION}")
    _go(component, go, work, log, "build", "-ldflags", version_ldflags(), "-o", str(binary),
        command)


def version_ldflags() -> str:
    """The -X flags Kubernetes' own release build sets for the version."""
    stamped = {"gitVersion": f"v{KUBERNETES_VERSION}", "gitMajor": "1",
               "gitMinor": KUBERNETES_VERSION.split(".")[1], "gitTreeState": "clean"}
    return " ".join(f"-X {package}.{name}={value}" for package in VERSION_PACKAGES
                    for name, value in stamped.items())


def _downloaded_gomod(go: Path, work: Path, log: Path, module: str) -> Path:
    try:
        done = subprocess.run(
            [str(go), "mod", "download", "-json", module],
            cwd=work,
            env={**os.environ, **_go_env()},
            capture_output=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError("kube-apiserver", f"downloading {module} took too long") from exc
    with log.open("ab") as out:
        out.write(done.stderr)
    if done.returncode != 0:
        raise BenchError("kube-apiserver", f"go mod download {module} failed", log)
    path = json.loads(done.stdout).get("GoMod")
    if not path or not Path(path).exists():
        raise BenchError("kube-apiserver", f"go mod download gave no go.mod for {module}", log)
    return Path(path)
