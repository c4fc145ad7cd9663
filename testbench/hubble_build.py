"""Building the Hubble flow generator (testbench/hubble/, a small Go program against Cilium's
``api/v1/flow`` and ``api/v1/observer`` packages from the Go module proxy), once, into the cache
outside the repository, like the control plane in ``kube_build.py``.

The cache directory is named after the Cilium version and a hash of the program's source, so
editing the generator rebuilds it and an unchanged one is never rebuilt. The source is copied
into the cache and built there with ``-mod=readonly`` against the committed go.sum: the build
never writes into the repository and fetches exactly the pinned modules.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import time
from pathlib import Path

from testbench.paths import cache_dir
from testbench.process import BenchError, progress, run_checked

CILIUM_VERSION = "1.20.2"
COMPONENT = "hubble-flows"
SOURCE = Path(__file__).resolve().parent / "hubble"
GO_FALLBACK = Path("/usr/local/go/bin/go")


def install() -> Path:
    """Build the generator into the cache unless this source was built before; its path."""
    files = _source_files()
    root = cache_dir("hubble", f"cilium-{CILIUM_VERSION}-{_digest(files)}")
    binary = root / "bin" / COMPONENT
    if _is_built(root, binary):
        return binary
    go = _go_binary()
    # Test sessions may start side by side; one builds while the others wait for its stamp.
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _is_built(root, binary):
            _build(go, files, root, binary)
    return binary


def _build(go: Path, files: list[Path], root: Path, binary: Path) -> None:
    stamp = _stamp(root)
    stamp.unlink(missing_ok=True)
    work = root / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for file in files:
        shutil.copy2(file, work / file.name)
    log = root / "build.log"
    log.unlink(missing_ok=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    progress(f"building the Hubble flow generator against cilium v{CILIUM_VERSION} with Go "
             f"(about a minute on a cold module cache; log: {log})")
    started = time.monotonic()
    # -mod=readonly: go.sum is committed; a module missing from it is an error, not a fetch.
    env = {"GOFLAGS": "-mod=readonly -buildvcs=false", "GOWORK": "off", "CGO_ENABLED": "0"}
    run_checked(COMPONENT, [str(go), "build", "-trimpath", "-o", str(binary), "."],
                log=log, cwd=work, env=env, timeout=1200)
    if not binary.exists():
        raise BenchError(COMPONENT, f"the build finished but {binary} is missing", log)
    stamp.write_text(f"built in {time.monotonic() - started:.0f}s\n")
    progress(f"built the Hubble flow generator in {time.monotonic() - started:.0f}s")


def _source_files() -> list[Path]:
    files = sorted([*SOURCE.glob("*.go"), SOURCE / "go.mod", SOURCE / "go.sum"])
    missing = [str(file) for file in files if not file.is_file()]
    if missing:
        raise BenchError(COMPONENT, f"generator source missing: {', '.join(missing)}")
    return files


def _digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _go_binary() -> Path:
    found = shutil.which("go")
    if found:
        return Path(found)
    if GO_FALLBACK.exists():
        return GO_FALLBACK
    raise BenchError(COMPONENT, "the Go toolchain (go) is not installed or not on PATH")


def _is_built(root: Path, binary: Path) -> bool:
    return _stamp(root).exists() and binary.exists()


def _stamp(root: Path) -> Path:
    # Written only after a complete build, so an interrupted one is redone.
    return root / f"{COMPONENT}.built"
