"""More members of the consumer group, each a process of its own (``chatbot serve
--consumers N`` runs N-1 of them beside the service's own consume loop).

One Python process decodes and stores on one core; the group spreads the partitions over
the members, so N processes use N cores. A member runs only the consume loop
(chatbot/member.py) with the service's settings (its environment); the Slack
outbox, the applier and the escalator stay in the service process and pick up what members
store on their next poll. A member that exits is started again after a capped backoff:
meanwhile Kafka gives its partitions to the others, so nothing waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping

from chatbot.pipeline.consumer import Backoff

STOP_SECONDS = 15.0  # a member finishes and stores its batch on SIGTERM; then it is killed


class ConsumerMembers:
    def __init__(self, *, count: int, logger: logging.Logger,
                 env: Mapping[str, str] | None = None, backoff: Backoff | None = None
                 ) -> None:
        self._count = count
        self._log = logger
        self._env = dict(os.environ if env is None else env)
        self._backoff = backoff or Backoff()
        self._processes: list[asyncio.subprocess.Process | None] = [None] * count
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    @property
    def count(self) -> int:
        return self._count

    def running(self) -> int:
        return sum(1 for p in self._processes if p is not None and p.returncode is None)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep(index), name=f"consumer-member-{index}")
                       for index in range(self._count)]

    async def stop(self) -> None:
        self._stopping.set()
        for process in self._processes:
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _keep(self, index: int) -> None:
        failures = 0
        while not self._stopping.is_set():
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "chatbot.member", env=_member_env(self._env,
                                                                                index))
            self._processes[index] = process
            self._log.info("consumer member %d started (pid %d)", index + 1, process.pid)
            waiting = asyncio.ensure_future(process.wait())
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if self._stopping.is_set():
                try:
                    await asyncio.wait_for(waiting, STOP_SECONDS)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                return
            failures += 1
            delay = self._backoff.delay(failures)
            self._log.error("consumer member %d exited with code %s; starting it again in "
                            "%.1fs", index + 1, process.returncode, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)


def _member_env(env: dict[str, str], index: int) -> dict[str, str]:
    """Static membership needs one instance id per member: the pod's name plus the member."""
    instance = env.get("CHATBOT_KAFKA_GROUP_INSTANCE_ID")
    if not instance:
        return env
    return {**env, "CHATBOT_KAFKA_GROUP_INSTANCE_ID": f"{instance}-m{index + 1}"}
