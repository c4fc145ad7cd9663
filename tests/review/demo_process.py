"""``chatbot demo`` run the way a newcomer runs it: the installed console script in its own
process, read until it prints where its page is, then stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

CHATBOT = Path(sys.executable).with_name("chatbot")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo_command(workdir: Path, port: int, *extra: str) -> list[str]:
    assert CHATBOT.exists(), f"{CHATBOT} is missing: run scripts/setup-python first"
    return [str(CHATBOT), "demo", "--workdir", str(workdir), "--port", str(port), *extra]


@dataclass
class DemoProcess:
    process: asyncio.subprocess.Process
    url: str
    output: list[str] = field(default_factory=list)

    async def interrupt(self) -> int:
        """Ctrl-C, then the exit code once the demo has shut down (the rest of its output is
        appended to ``output``)."""
        self.process.send_signal(signal.SIGINT)
        assert self.process.stdout is not None
        async with asyncio.timeout(STOP_TIMEOUT):
            rest = await self.process.stdout.read()
            code = await self.process.wait()
        self.output.extend(rest.decode().splitlines())
        return code


@asynccontextmanager
async def running_demo(workdir: Path, port: int, *extra: str) -> AsyncIterator[DemoProcess]:
    process = await asyncio.create_subprocess_exec(
        *demo_command(workdir, port, *extra), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    demo = DemoProcess(process, url="")
    try:
        demo.url = await _page_url(demo)
        yield demo
    finally:
        if process.returncode is None:
            process.kill()  # only when a test failed before its own interrupt()
            await process.wait()


async def _page_url(demo: DemoProcess) -> str:
    stdout = demo.process.stdout
    assert stdout is not None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while line := (await stdout.readline()).decode():
                demo.output.append(line.rstrip("\n"))
                if found := re.search(r"review page:\s+(http://\S+)", line):
                    return found.group(1)
    except TimeoutError:
        pass
    raise AssertionError("the demo never said where its page is:\n" + "\n".join(demo.output))
