"""Building the bench's forge, Gitea, from its Go module, once, into the cache outside the
repository; later runs find the stamp and skip the build.

Gitea's go.mod carries ``replace`` directives, which ``go install pkg@version`` refuses, so the
module is downloaded, copied to a writable directory and built inside it. The copy stays in the
cache: without embedded assets Gitea reads its templates and locales from there at run time
(``[server] STATIC_ROOT_PATH``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from testbench.kube_build import GO_FALLBACK
from testbench.paths import cache_dir
from testbench.process import BenchError, progress, run_checked

GITEA_VERSION = "1.27.3"
GITEA_MODULE = "code.gitea.io/gitea"
# sqlite_unlock_notify only matters to the cgo driver; 1.27 builds the pure-Go SQLite driver
# unless `sqlite_mattn` is given, so this build needs no C toolchain (CGO_ENABLED=0).
BUILD_TAGS = "sqlite sqlite_unlock_notify"
COMPONENT = "gitea"


@dataclass(frozen=True)
class GiteaInstall:
    """The built binary and the source tree it serves templates and locales from."""

    binary: Path
    static_root: Path


def install() -> GiteaInstall:
    """Build Gitea into the cache unless a previous build finished."""
    root = cache_dir(COMPONENT, GITEA_VERSION)
    built = GiteaInstall(binary=root / "bin" / "gitea", static_root=root / "src")
    stamp = root / "gitea.built"
    if _is_built(stamp, built):
        return built
    # Test sessions may start side by side; one builds while the others wait for its stamp.
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_built(stamp, built):
            return built
        stamp.unlink(missing_ok=True)
        log = root / "build.log"
        log.unlink(missing_ok=True)
        progress(f"gitea: building {GITEA_MODULE} v{GITEA_VERSION} with Go "
                 f"(minutes on a cold cache; log: {log})")
        started = time.monotonic()
        _build(_go_binary(), root, log, built)
        elapsed = time.monotonic() - started
        stamp.write_text(f"built in {elapsed:.0f}s\n")
        progress(f"gitea: built in {elapsed:.0f}s ({built.binary.stat().st_size >> 20} MiB)")
    return built


def _is_built(stamp: Path, built: GiteaInstall) -> bool:
    # The stamp is written only after a complete build, so an interrupted one is redone.
    return stamp.exists() and built.binary.exists() and (built.static_root / "templates").is_dir()


def _go_binary() -> Path:
    found = shutil.which("go")
    if found:
        return Path(found)
    if GO_FALLBACK.exists():
        return GO_FALLBACK
    raise BenchError(COMPONENT, "the Go toolchain (go) is not installed or not on PATH")


def _go_env() -> dict[str, str]:
    return {"GOFLAGS": "-mod=mod -buildvcs=false", "GOWORK": "off", "CGO_ENABLED": "0"}


def _build(go: Path, root: Path, log: Path, built: GiteaInstall) -> None:
    source = _downloaded_module(go, root, log)
    shutil.rmtree(built.static_root, ignore_errors=True)
    # The module cache is read-only; the build writes go.sum updates and must own its tree.
    shutil.copytree(source, built.static_root)
    for path in [built.static_root, *built.static_root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    built.binary.parent.mkdir(parents=True, exist_ok=True)
    ldflags = f'-X main.Version={GITEA_VERSION} -X "main.Tags={BUILD_TAGS}"'
    run_checked(
        COMPONENT,
        [str(go), "build", "-tags", BUILD_TAGS, "-ldflags", ldflags,
         "-o", str(built.binary), "."],
        log=log,
        cwd=built.static_root,
        env=_go_env(),
    )
    if not built.binary.exists():
        raise BenchError(COMPONENT, f"the build finished but {built.binary} is missing", log)


def _downloaded_module(go: Path, root: Path, log: Path) -> Path:
    module = f"{GITEA_MODULE}@v{GITEA_VERSION}"
    try:
        done = subprocess.run(
            [str(go), "mod", "download", "-json", module],
            cwd=root,
            env={**os.environ, **_go_env()},
            capture_output=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(COMPONENT, f"downloading {module} took too long") from exc
    with log.open("ab") as out:
        out.write(done.stderr)
    if done.returncode != 0:
        raise BenchError(COMPONENT, f"go mod download {module} failed", log)
    directory = json.loads(done.stdout).get("Dir")
    if not directory or not (Path(directory) / "go.mod").exists():
        raise BenchError(COMPONENT, f"go mod download gave no source directory for {module}", log)
    return Path(directory)
