"""Installing Debian packages the bench needs (PostgreSQL, Redis, Chromium) with apt-get."""

from __future__ import annotations

from testbench.paths import cache_dir
from testbench.process import progress, run_checked


def apt_install(component: str, *packages: str) -> None:
    """``apt-get update`` then install; waits for another apt run's lock rather than failing."""
    progress(f"{component}: installing Debian's {' '.join(packages)}")
    log = cache_dir(component) / "install.log"
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    run_checked(component, [*apt, "update"], log=log)
    run_checked(component, [*apt, "install", "-y", "--no-install-recommends", *packages],
                log=log, env={"DEBIAN_FRONTEND": "noninteractive"})
