"""The git sink with the GitHub adapter: the stand-in checks every pull-request request the
sink sends, and every answer it reads, against GitHub's published REST description. GitHub
itself cannot be reached here, so the branch is pushed to the bench's Gitea and the stand-in
sees that repository's branches as its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.clock import ManualClock
from chatbot.config.settings import settings_from_env
from chatbot.gitops.proposer import Proposer
from chatbot.intents.git_wiring import git_sink
from chatbot.lifecycle import State
from chatbot.store import proposals
from testbench.gitea import GiteaRepo, GiteaServer
from testbench.github_openapi import GitHubDescription
from testbench.github_standin import GitHubStandin
from tests.gitops.harness import APPROVER, Story, git_env


class GiteaBranches(dict[str, str]):
    """The stand-in's branch table, read live from the Gitea repository the sink pushes to."""

    def __init__(self, server: GiteaServer, repo: GiteaRepo) -> None:
        super().__init__()
        self._server, self._repo = server, repo

    def _heads(self) -> dict[str, str]:
        found = self._server.api("GET", f"/repos/{self._repo.owner}/{self._repo.name}/branches")
        return {branch["name"]: branch["commit"]["id"] for branch in found}

    def __contains__(self, branch: object) -> bool:
        return branch in self._heads()

    def __getitem__(self, branch: str) -> str:
        return self._heads()[branch]

    def __iter__(self) -> Iterator[str]:
        return iter(self._heads())


@pytest.fixture
async def standin(github_description: GitHubDescription, gitea_server: GiteaServer,
                  gitea_repo: GiteaRepo) -> AsyncIterator[GitHubStandin]:
    standin = GitHubStandin(description=github_description, owner=gitea_repo.owner,
                            name=gitea_repo.name)
    standin.branches = GiteaBranches(gitea_server, gitea_repo)
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()
    assert standin.mismatches == [], "\n".join(standin.mismatches)


async def test_the_sink_proposes_through_the_github_adapter_as_github_describes(
    sqlite_sessions: async_sessionmaker[AsyncSession], gitea_server: GiteaServer,
    gitea_repo: GiteaRepo, standin: GitHubStandin, tmp_path: Path,
) -> None:
    env = {**git_env(gitea_server, gitea_repo, tmp_path), "CHATBOT_GIT_FORGE": "github",
           "CHATBOT_GIT_API_URL": standin.api_url}
    settings = settings_from_env(env)
    assert settings.git is not None and settings.git.forge == "github"
    sink, _probe, close = await git_sink(settings)
    clock = ManualClock()
    proposer = Proposer(sessions=sqlite_sessions, sink=sink, clock=clock,
                        destination=settings.git.destination, batch_seconds=60,
                        poll_seconds=3600)
    s = Story(sessions=sqlite_sessions, clock=clock, proposer=proposer, server=gitea_server,
              repo=gitea_repo, settings=settings)
    try:
        anomaly_id = await s.approve("e1")
        await s.window_passes()
        created = [r for r in standin.requests if r.method == "POST"]
        assert len(created) == 1
        assert created[0].body["base"] == "main"
        assert created[0].body["head"].startswith("flow-bot/approvals-")
        assert f"Approved by `{APPROVER}`" in created[0].body["body"]
        assert all(r.headers.get("Authorization", "").startswith("Bearer ")
                   for r in standin.requests)
        card = await s.card(anomaly_id)
        assert card.state is State.PROPOSED and card.proposal_url is not None

        # A person merges on "GitHub"; the conditional poll reports it.
        async with sqlite_sessions() as session:
            (batch,) = await proposals.in_state(session, (proposals.OPEN,))
        number = batch.number
        merge = f"{standin.api_url}/repos/{gitea_repo.owner}/{gitea_repo.name}/pulls/{number}/merge"
        async with aiohttp.ClientSession() as http, http.put(merge, json={}) as answer:
            assert answer.status == 200, await answer.text()
        await proposer.step(poll=True)
        assert (await s.card(anomaly_id)).state is State.APPLIED
        polls = [r for r in standin.requests if r.method == "GET" and r.path.endswith(
            f"/pulls/{number}")]
        assert polls, "the state was learnt by polling the pull request"
    finally:
        await close()
