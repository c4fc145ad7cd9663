"""The NetworkPolicy oracle: cyclonus (github.com/mattfenwick/cyclonus), built with ``go install``
once into the bench cache, and a wrapper that asks its policy simulator whether traffic is
allowed (``cyclonus analyze --mode query-traffic``) — an independent reading of the policies
the bot writes, not ours.

The traffic file is a JSON list of cyclonus's ``matcher.Traffic`` (pkg/matcher/traffic.go at
v0.5.6): ``Source``/``Destination`` peers with ``IP`` and, for pods, ``Internal`` (``PodLabels``,
``NamespaceLabels``, ``Namespace``), plus ``ResolvedPort``, ``ResolvedPortName`` and
``Protocol``. A peer without ``Internal`` is outside the cluster.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testbench.cyclonus_table import DirectionVerdict, parse_verdicts
from testbench.paths import cache_dir
from testbench.process import BenchError, progress, run_checked

__all__ = ["Cyclonus", "DirectionVerdict", "Peer", "Traffic", "Verdict", "external", "install",
           "pod"]

CYCLONUS_VERSION = "0.5.6"
COMMAND = "github.com/mattfenwick/cyclonus/cmd/cyclonus"
COMPONENT = "cyclonus"
GO_FALLBACK = Path("/usr/local/go/bin/go")
QUERY_TIMEOUT = 60.0
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def install() -> Path:
    """``go install`` cyclonus into the cache unless a previous build finished; its path."""
    root = cache_dir("cyclonus", f"cyclonus-{CYCLONUS_VERSION}")
    binary = root / "bin" / "cyclonus"
    if _is_built(root, binary):
        return binary
    go = _go_binary()
    # Test sessions may start side by side; one builds while the others wait for its stamp.
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _is_built(root, binary):
            _build(go, root, binary)
    return binary


def _build(go: Path, root: Path, binary: Path) -> None:
    stamp = _stamp(root)
    stamp.unlink(missing_ok=True)
    work = root / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = root / "build.log"
    log.unlink(missing_ok=True)
    progress(f"building cyclonus v{CYCLONUS_VERSION} with go install (minutes on a cold Go "
             f"module cache; log: {log})")
    started = time.monotonic()
    # `go install pkg@version` builds outside any module, so the caller's go.work or
    # -mod setting must not leak in; GOBIN puts the binary in the cache, not ~/go/bin.
    env = {"GOBIN": str(binary.parent), "GOWORK": "off", "GOFLAGS": "-buildvcs=false",
           "CGO_ENABLED": "0"}
    run_checked(COMPONENT, [str(go), "install", f"{COMMAND}@v{CYCLONUS_VERSION}"], log=log,
                cwd=work, env=env)
    if not binary.exists():
        raise BenchError(COMPONENT, f"go install finished but {binary} is missing", log)
    stamp.write_text(f"built in {time.monotonic() - started:.0f}s\n")
    progress(f"built cyclonus in {time.monotonic() - started:.0f}s")


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
    return root / "cyclonus.built"


@dataclass(frozen=True)
class Peer:
    """One end of a connection: a pod (namespace and labels) or an address outside the cluster."""

    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] | None = None
    """Default: what the apiserver puts on every namespace, ``kubernetes.io/metadata.name``."""

    def as_json(self) -> dict[str, Any]:
        if self.namespace is None:
            return {"IP": self.ip}
        labels = (dict(self.namespace_labels) if self.namespace_labels is not None
                  else {NAMESPACE_NAME_LABEL: self.namespace})
        return {"IP": self.ip, "Internal": {
            "PodLabels": dict(self.labels), "NamespaceLabels": labels,
            "Namespace": self.namespace}}


def pod(namespace: str, labels: Mapping[str, str], ip: str) -> Peer:
    return Peer(ip=ip, namespace=namespace, labels=labels)


def external(ip: str) -> Peer:
    return Peer(ip=ip)


@dataclass(frozen=True)
class Traffic:
    source: Peer
    destination: Peer
    port: int
    protocol: str = "TCP"
    port_name: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"Source": self.source.as_json(), "Destination": self.destination.as_json(),
                "ResolvedPort": self.port, "ResolvedPortName": self.port_name,
                "Protocol": self.protocol}


@dataclass(frozen=True)
class Verdict:
    """cyclonus's answer for one traffic: each direction, and the traffic as a whole."""

    traffic: Traffic
    ingress: DirectionVerdict
    egress: DirectionVerdict

    @property
    def allowed(self) -> bool:
        return self.ingress.allowed and self.egress.allowed


class Cyclonus:
    """Runs the built binary on policies and traffic written to a fresh directory each time."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self._binary = binary
        self._workdir = workdir

    def query(self, policies: Sequence[Mapping[str, Any]],
              traffic: Sequence[Traffic]) -> list[Verdict]:
        if not policies:
            # cyclonus reads a policy path or nothing; with no policy everything is allowed.
            raise BenchError(COMPONENT, "query needs at least one policy")
        run = Path(tempfile.mkdtemp(prefix="query-", dir=self._workdir))
        policy_dir = run / "policies"
        policy_dir.mkdir()
        for index, policy in enumerate(policies):
            metadata = policy.get("metadata") or {}
            name = f"{index:03d}-{metadata.get('namespace', 'default')}-{metadata.get('name')}"
            (policy_dir / f"{name}.yaml").write_text(yaml.safe_dump(dict(policy)))
        traffic_file = run / "traffic.json"
        traffic_file.write_text(json.dumps([item.as_json() for item in traffic], indent=2))
        argv = [str(self._binary), "analyze", "--mode", "query-traffic",
                "--policy-path", str(policy_dir), "--traffic-path", str(traffic_file)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=QUERY_TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(COMPONENT, f"analyze took over {QUERY_TIMEOUT:.0f}s") from exc
        (run / "stdout.txt").write_text(done.stdout)
        (run / "stderr.txt").write_text(done.stderr)
        if done.returncode != 0:
            raise BenchError(COMPONENT, f"analyze exited {done.returncode}: "
                             f"{done.stderr.strip()[-2000:]} (inputs in {run})")
        answers = parse_verdicts(done.stdout)
        if len(answers) != len(traffic):
            raise BenchError(COMPONENT, f"{len(traffic)} traffics asked, {len(answers)} answers "
                             f"read (output in {run / 'stdout.txt'})")
        verdicts = []
        for item, (ingress, egress, overall) in zip(traffic, answers, strict=True):
            verdict = Verdict(item, ingress, egress)
            if verdict.allowed != overall:
                raise BenchError(COMPONENT, f"the table's own answer ({overall}) disagrees with "
                                 f"its rows (output in {run / 'stdout.txt'})")
            verdicts.append(verdict)
        return verdicts
