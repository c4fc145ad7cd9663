"""Installing Debian packages the bench needs (PostgreSQL, Redis, Chromium) with apt-get."""

from __future__ import annotations

import fcntl
import time
from pathlib import Path

from testbench.paths import cache_root
from testbench.process import BenchError, progress, run_checked

LOCKED_RETRIES = 60


def apt_install(component: str, *packages: str) -> None:
    """``apt-get update`` then install. Bench installs queue on a lock of their own, and an
    apt run from outside the bench (``DPkg::Lock::Timeout`` covers only dpkg's lock, not the
    package lists') is waited out and retried rather than failing the run."""
    progress(f"{component}: installing Debian's {' '.join(packages)}")
    log = cache_root() / component / "install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    with (cache_root() / "apt.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _patiently(component, [*apt, "update"], log=log)
        _patiently(component, [*apt, "install", "-y", "--no-install-recommends", *packages],
                   log=log)


def _patiently(component: str, command: list[str], *, log: Path) -> None:
    for attempt in range(LOCKED_RETRIES):
        try:
            run_checked(component, command, log=log,
                        env={"DEBIAN_FRONTEND": "noninteractive"})
            return
        except BenchError:
            if "Could not get lock" not in log.read_text(errors="replace")[-2000:] or \
                    attempt == LOCKED_RETRIES - 1:
                raise
            time.sleep(5.0)
