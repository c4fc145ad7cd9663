"""Starting, waiting for and stopping the bench's server processes, with errors that say
which component failed and why (the tail of its log), never a silent skip."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class BenchError(RuntimeError):
    """A bench component could not be installed or started."""

    def __init__(self, component: str, reason: str, log: Path | None = None) -> None:
        detail = f"\n--- last lines of {log} ---\n{log_tail(log)}" if log else ""
        super().__init__(f"test bench: {component}: {reason}{detail}")
        self.component = component


def log_tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def progress(message: str) -> None:
    """Progress for long set-up steps; stderr so `eval $(python -m testbench env)` stays clean."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def run_checked(
    component: str,
    argv: Sequence[str],
    *,
    log: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> None:
    """Run a set-up step to completion; on failure raise BenchError with its output."""
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                list(argv),
                cwd=cwd,
                env={**os.environ, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise BenchError(component, f"{argv[0]} is not installed ({exc})") from exc
        except subprocess.TimeoutExpired as exc:
            raise BenchError(component, f"{argv[0]} took over {timeout:.0f}s", log) from exc
    if done.returncode != 0:
        raise BenchError(component, f"{' '.join(argv[:3])} exited {done.returncode}", log)


@dataclass
class Server:
    """A running bench server process and where it logs."""

    component: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group; SIGKILL it if the leader outlives ``grace``."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)  # reaps it, so no zombie keeps the group alive
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=5)


def spawn(
    component: str,
    argv: Sequence[str],
    *,
    log: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Server:
    """Start a server in its own session so that stopping it also stops its children."""
    out = log.open("ab")
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise BenchError(component, f"{argv[0]} is not installed ({exc})") from exc
    finally:
        out.close()
    return Server(component, process, log)


def wait_until(
    server: Server, ready: Callable[[], bool], *, what: str, timeout: float = 60.0
) -> None:
    """Poll `ready` until true; fail with the log tail if the server dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise BenchError(server.component, f"exited with {server.process.returncode} "
                             f"before {what}", server.log)
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise BenchError(server.component, f"not {what} after {timeout:.0f}s", server.log)


def stop_pid(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `grace` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
