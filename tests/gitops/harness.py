"""The git sink's stories, set up once: a SQLite store, the real Gitea's fresh repository, the
sink and its proposer built the way the service builds them (from CHATBOT_* settings), and a
person acting on Gitea (merge, close, commit to the base branch)."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.approvers import ApproverDirectory
from chatbot.card import Card
from chatbot.clock import ManualClock
from chatbot.config.settings import Settings, settings_from_env
from chatbot.decisions import Decider, Verdict
from chatbot.gitops.proposer import Proposer
from chatbot.intents.git_wiring import git_sink
from chatbot.lifecycle import Action
from chatbot.store import anomalies
from chatbot.store.audit import Entry, entries
from testbench.gitea import GiteaRepo, GiteaServer
from tests.store.test_decisions import RULES, event, stored

APPROVER = "U0OWNER"
FOLDER = "intents"
FILE = f"{FOLDER}/web.rps.yaml"


def git_env(server: GiteaServer, repo: GiteaRepo, workdir: Path, *,
            token: str | None = None, batch_seconds: float = 60) -> dict[str, str]:
    return {
        "CHATBOT_INTENTS_SINK": "git", "CHATBOT_GIT_URL": repo.clone_url,
        "CHATBOT_GIT_BASE_BRANCH": repo.default_branch, "CHATBOT_GIT_FOLDER": FOLDER,
        "CHATBOT_GIT_FORGE": "gitea", "CHATBOT_GIT_API_URL": server.api_url,
        "CHATBOT_GIT_TOKEN": token or server.token,
        "CHATBOT_GIT_BATCH_SECONDS": str(batch_seconds),
        "CHATBOT_GIT_WORKDIR": str(workdir),
    }


@dataclass
class Story:
    sessions: async_sessionmaker[AsyncSession]
    clock: ManualClock
    proposer: Proposer
    server: GiteaServer
    repo: GiteaRepo
    settings: Settings

    async def approve(self, event_id: str, *, path: str = "/api/play") -> str:
        anomaly_id = await stored(self.sessions, event(event_id, path=path))
        decider = Decider(sessions=self.sessions, rules=RULES, clock=self.clock,
                          directory=ApproverDirectory(lookup=None))
        outcome = await decider.decide(anomaly_id=anomaly_id, action=Action.APPROVE,
                                       user_id=APPROVER)
        assert outcome.verdict is Verdict.DECIDED, outcome.message
        return anomaly_id

    async def window_passes(self) -> None:
        """Batch what was approved, let the window close, propose."""
        await self.proposer.step(poll=False)
        assert self.settings.git is not None
        self.clock.advance(self.settings.git.batch_seconds + 1)
        await self.proposer.step(poll=False)

    async def card(self, anomaly_id: str) -> Card:
        async with self.sessions() as session:
            card = await anomalies.load_card(session, anomaly_id)
        assert card is not None
        return card

    async def audit(self, anomaly_id: str) -> list[Entry]:
        async with self.sessions() as session:
            return await entries(session, anomaly_id=anomaly_id)

    # A person on Gitea.
    def api_path(self, rest: str) -> str:
        return f"/repos/{self.repo.owner}/{self.repo.name}{rest}"

    def pulls(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.server.api(
            "GET", self.api_path("/pulls?state=all&limit=50"))
        return found

    def file(self, path: str, *, ref: str) -> dict[str, Any]:
        answer = self.server.api("GET", self.api_path(f"/contents/{path}?ref={ref}"))
        loaded: dict[str, Any] = yaml.safe_load(base64.b64decode(answer["content"]))
        return loaded

    def commit_file(self, path: str, text: str, *, message: str) -> None:
        self.server.api("POST", self.api_path(f"/contents/{path}"), {
            "content": base64.b64encode(text.encode()).decode(), "message": message,
            "branch": self.repo.default_branch})

    def merge(self, number: int) -> None:
        path = self.api_path(f"/pulls/{number}")
        deadline = time.monotonic() + 60
        # Gitea checks mergeability in the background after a pull request opens or moves.
        while not self.server.api("GET", path)["mergeable"] and time.monotonic() < deadline:
            time.sleep(0.3)
        self.server.api("POST", f"{path}/merge", {"Do": "merge"})

    def close(self, number: int) -> None:
        self.server.api("PATCH", self.api_path(f"/pulls/{number}"), {"state": "closed"})


def targets(document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["spec"]["targets"]
    return found


@asynccontextmanager
async def story(sessions: async_sessionmaker[AsyncSession], server: GiteaServer,
                repo: GiteaRepo, workdir: Path, **options: Any) -> AsyncIterator[Story]:
    settings = settings_from_env(git_env(server, repo, workdir, **options))
    assert settings.git is not None
    sink, _probe, close = await git_sink(settings)
    clock = ManualClock()
    proposer = Proposer(sessions=sessions, sink=sink, clock=clock,
                        destination=settings.git.destination,
                        batch_seconds=settings.git.batch_seconds, poll_seconds=3600)
    try:
        yield Story(sessions=sessions, clock=clock, proposer=proposer, server=server,
                    repo=repo, settings=settings)
    finally:
        await close()
