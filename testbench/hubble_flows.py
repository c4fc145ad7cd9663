"""Hubble records for tests, encoded by Cilium's own types: compact flow specs go through the
generator built by ``hubble_build.py`` and come back as the lines the Hubble exporter or
``hubble observe -o json`` would write.

A spec is a dict in the generator's vocabulary (testbench/hubble/spec.go), for example::

    {"src": {"ns": "shop", "pod": "cart-5d8f-x2x7k", "labels": {"app": "cart"},
             "workload": {"name": "cart", "kind": "Deployment"}},
     "dst": {"ns": "billing", "pod": "ledger-0"}, "dport": 9090,
     "verdict": "DROPPED", "drop_reason": "POLICY_DENIED"}

Unknown spec fields and enum names that flow.proto does not have fail the call.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path

import orjson

from testbench import hubble_build
from testbench.process import BenchError

RUN_TIMEOUT = 300.0

Spec = Mapping[str, object]


class Format(StrEnum):
    EXPORTER = "exporter"
    """The exporter's file: ``{"flow": {...}, "node_name": ..., "time": ...}``."""
    OBSERVE_JSON = "observe-json"
    """``hubble observe -o json`` (or ``-o jsonpb``): GetFlowsResponse lines, same shape."""
    OBSERVE_JSON_LEGACY = "observe-json-legacy"
    """``hubble observe -o json`` with ``HUBBLE_COMPAT=legacy-json-output``: bare flows."""


def hubble_lines(
    specs: Iterable[Spec], *, format: Format = Format.EXPORTER, binary: Path | None = None
) -> list[bytes]:
    """One encoded record per spec (without the newline), in order."""
    stdin = b"".join(orjson.dumps(spec) + b"\n" for spec in specs)
    return _run(binary or hubble_build.install(), format, stdin)


def hubble_line(spec: Spec, *, format: Format = Format.EXPORTER,
                binary: Path | None = None) -> bytes:
    (line,) = hubble_lines([spec], format=format, binary=binary)
    return line


def _run(binary: Path, format: Format, stdin: bytes) -> list[bytes]:
    try:
        done = subprocess.run(
            [str(binary), "-format", format.value], input=stdin, capture_output=True,
            timeout=RUN_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(hubble_build.COMPONENT, f"took over {RUN_TIMEOUT:.0f}s") from exc
    if done.returncode != 0:
        raise BenchError(hubble_build.COMPONENT, done.stderr.decode(errors="replace").strip())
    return done.stdout.splitlines()
