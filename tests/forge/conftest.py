"""Shared pieces of the forge tests: an HTTP session, and a working copy of the test's fresh
Gitea repository that pushes as the bot with the admin's token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from chatbot.forge.git import GitIdentity
from chatbot.forge.gitea import GiteaForge
from chatbot.forge.repo import WorkingCopy
from testbench.gitea import GiteaRepo, GiteaServer

BOT = GitIdentity(name="flow-approval-bot", email="flow-bot@bench.invalid")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def gitea_forge(
    gitea_server: GiteaServer, gitea_repo: GiteaRepo, session: aiohttp.ClientSession
) -> GiteaForge:
    return GiteaForge(session=session, api_url=gitea_server.api_url, owner=gitea_repo.owner,
                      repository=gitea_repo.name, token=gitea_server.token)


def working_copy(gitea_server: GiteaServer, gitea_repo: GiteaRepo, path: Path,
                 *, token: str | None = None, executable: str = "git") -> WorkingCopy:
    return WorkingCopy.for_remote(
        path=path, remote_url=gitea_repo.clone_url, base_branch=gitea_repo.default_branch,
        identity=BOT, token=gitea_server.token if token is None else token,
        executable=executable)


@pytest.fixture
def bot_copy(gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path) -> WorkingCopy:
    return working_copy(gitea_server, gitea_repo, tmp_path / "bot")


async def push_file(copy: WorkingCopy, branch: str, relative: str, text: str) -> str:
    """Sync, branch off the base (or resume the branch), write, commit and push."""
    await copy.sync()
    await copy.start_branch(branch)
    copy.write(relative, text)
    sha = await copy.commit(f"write {relative}")
    assert sha is not None
    await copy.push(branch)
    return sha
