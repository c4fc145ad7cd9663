"""The browser for the review page's end-to-end story: Debian's Chromium, run headless."""

from __future__ import annotations

import shutil
from pathlib import Path

from testbench.apt import apt_install
from testbench.process import BenchError

COMPONENT = "chromium"
NAMES = ("chromium", "chromium-browser")


def find() -> Path | None:
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def install() -> Path:
    """Path of Chromium, installing Debian's package when missing (no browser download)."""
    found = find()
    if found is None:
        apt_install(COMPONENT, "chromium")
        found = find()
    if found is None:
        raise BenchError(COMPONENT, "the chromium package installed but no chromium on PATH")
    return found
