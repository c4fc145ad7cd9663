"""Building the repository's Dockerfile with buildah (Debian's, rootful, chroot isolation) and
running commands in the image, for the image test.

Two things differ from a build on a workstation, both because of the sandbox's network:
- the pinned base (``python:3.11.x-slim-bookworm``) is on Docker Hub, which cannot be
  reached, so the build gets ``--build-arg PYTHON_IMAGE=`` a stand-in: Debian bookworm's own
  Python 3.11 (``mmdebstrap`` from the Debian mirror), with ``python`` on the same path;
- pip inside the build cannot verify TLS to PyPI, so it installs from a wheelhouse the host's
  pip downloads (``pip.conf`` with ``no-index``, both mounted read-only into the RUN steps).
The Dockerfile itself is used unchanged.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from testbench.apt import apt_install
from testbench.paths import cache_dir
from testbench.process import BenchError, progress, run_checked
from tests.deploy.chart import REPO

COMPONENT = "image"
BASE = "localhost/bench-python:3.11-bookworm"
IMAGE = "localhost/flow-approval-chatbot:test"
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "any")


def build_image() -> str:
    """Build the Dockerfile into IMAGE and return its name; raises BenchError with the log."""
    _tools()
    root = cache_dir(COMPONENT)
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _stand_in_base(root)
        wheels = _wheelhouse(root)
        pip_conf = root / "pip.conf"
        pip_conf.write_text("[global]\nno-index = true\nfind-links = /wheels\n")
        log = root / "build.log"
        log.unlink(missing_ok=True)
        # Drop the previous build first, or every run leaves an untagged image behind.
        subprocess.run(["buildah", "rmi", IMAGE], capture_output=True, check=False)
        progress(f"image: building the Dockerfile with buildah (log: {log})")
        run_checked(COMPONENT, [
            "buildah", "bud", "--isolation", "chroot", "--pull=never",
            "--build-arg", f"PYTHON_IMAGE={BASE}",
            "--volume", f"{wheels}:/wheels:ro", "--volume", f"{pip_conf}:/etc/pip.conf:ro",
            "--tag", IMAGE, str(REPO)], log=log, timeout=900)
    return IMAGE


def run_in(image: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a fresh container of ``image`` as the image's user, then remove it."""
    container = _buildah("from", "--pull-never", image).stdout.strip()
    try:
        return subprocess.run(["buildah", "run", "--isolation", "chroot", container, "--", *argv],
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        _buildah("rm", container)


def image_config(image: str) -> str:
    """``buildah inspect`` of the image (JSON text)."""
    return _buildah("inspect", "--type", "image", image).stdout


def _tools() -> None:
    missing = [package for package, command in (("buildah", "buildah"),
                                                ("mmdebstrap", "mmdebstrap"))
               if shutil.which(command) is None]
    if missing:
        apt_install(COMPONENT, *missing)


def _stand_in_base(root: Path) -> None:
    if subprocess.run(["buildah", "inspect", "--type", "image", BASE], capture_output=True,
                      check=False).returncode == 0:
        return
    log = root / "base.log"
    rootfs = root / "bookworm-python.tar"
    progress(f"image: making the stand-in base {BASE} with mmdebstrap (log: {log})")
    run_checked(COMPONENT, ["mmdebstrap", "--variant=minbase",
                            "--include=python3.11,python3.11-venv,passwd,ca-certificates",
                            "bookworm", str(rootfs), "http://deb.debian.org/debian"], log=log)
    container = _buildah("from", "scratch").stdout.strip()
    try:
        mount = Path(_buildah("mount", container).stdout.strip())
        run_checked(COMPONENT, ["tar", "-C", str(mount), "-xf", str(rootfs)], log=log)
        for name in ("python", "python3"):  # where the official image has them
            (mount / "usr" / "local" / "bin" / name).symlink_to("/usr/bin/python3.11")
        _buildah("umount", container)
        _buildah("config", "--env", "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 container)
        _buildah("commit", container, BASE)
    finally:
        _buildah("rm", container)
        rootfs.unlink(missing_ok=True)


def _wheelhouse(root: Path) -> Path:
    """The runtime dependencies (no dev extra) plus the build backend, as cp311 wheels."""
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:16]
    wheels = root / f"wheels-{digest}"
    if (wheels / ".complete").exists():
        return wheels
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    run_checked(COMPONENT, [sys.executable, "-m", "pip", "download", "--quiet", "--dest",
                            str(wheels), "--python-version", "3.11", "--only-binary=:all:",
                            *platforms, str(REPO), "setuptools>=69"],
                log=root / "wheels.log")
    (wheels / ".complete").touch()
    return wheels


def _buildah(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=300,
                          check=False)
    if done.returncode != 0:
        raise BenchError(COMPONENT, f"buildah {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done
