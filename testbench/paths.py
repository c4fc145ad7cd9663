"""Where the bench keeps what it builds (the cache) and what it runs (work directories)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_root() -> Path:
    """The cache for built binaries and fetched jars; outside the repository by design."""
    configured = os.environ.get("CHATBOT_BENCH_CACHE")
    root = Path(configured) if configured else Path.home() / ".cache" / "chatbot-bench"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def fresh_workdir(component: str) -> Path:
    """A throwaway directory for one run of one component (data dirs, logs, certs)."""
    base = cache_dir("run")
    return Path(tempfile.mkdtemp(prefix=f"{component}-", dir=base))
