"""Build the git sink from ``CHATBOT_GIT_*``: the forge adapter (Gitea or GitHub), the working
copy under ``CHATBOT_GIT_WORKDIR``, and the writer of the configured format's files; say how
to probe it. The token goes to the forge adapter and to git's environment, nowhere else."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from chatbot.config.settings import GitSettings, Settings
from chatbot.forge.git import GitIdentity
from chatbot.forge.gitea import GiteaForge
from chatbot.forge.github import GitHubForge
from chatbot.forge.pull_request import Forge
from chatbot.forge.repo import WorkingCopy
from chatbot.intents.directory import DirectorySink
from chatbot.intents.git_sink import FolderSink, GitSink
from chatbot.intents.kubernetes import kubernetes_sink
from chatbot.intents.networkpolicy.directory import NetworkPolicyDirectorySink
from chatbot.intents.sink import IntentsSink

Probe = Callable[[], Awaitable[bool]]
Close = Callable[[], Awaitable[None]]
IDENTITY = GitIdentity(name="flow-approval-chatbot", email="flow-approval-chatbot@users.noreply")


async def git_sink(settings: Settings) -> tuple[GitSink, Probe, Close]:
    git = settings.git
    assert git is not None, "git_sink needs CHATBOT_INTENTS_SINK=git"
    session = aiohttp.ClientSession()
    closers: list[Close] = [session.close]
    folder_sink: FolderSink = DirectorySink
    if settings.intents_format == "networkpolicy":
        # Pod selectors are read from the cluster even when the policies go to git.
        api_client = (await kubernetes_sink(settings.kubeconfig)).api_client
        closers.append(api_client.close)

        def folder_sink(path: Path) -> IntentsSink:
            return _Unowned(NetworkPolicyDirectorySink(path, api_client))

    token = git.token.reveal() if git.token else None
    copy = WorkingCopy.for_remote(path=git.workdir / _slug(git), remote_url=git.url,
                                  base_branch=git.base_branch, identity=IDENTITY, token=token)
    sink = GitSink(copy=copy, forge=forge_for(git, session), folder=git.folder,
                   folder_sink=folder_sink)

    async def reachable() -> bool:
        return await copy.remote_head(git.base_branch) is not None or bool(await copy.sync())

    async def close() -> None:
        for closer in reversed(closers):
            await closer()

    return sink, reachable, close


def forge_for(git: GitSettings, session: aiohttp.ClientSession) -> Forge:
    owner, repository = git.owner_and_repository
    token = git.token.reveal() if git.token else ""
    if git.forge == "github":
        return GitHubForge(session=session, owner=owner, repository=repository, token=token,
                           api_url=git.api_url)
    return GiteaForge(session=session, api_url=git.api_url, owner=owner,
                      repository=repository, token=token)


def _slug(git: GitSettings) -> str:
    # One clone per repository URL, so two configurations never share a checkout.
    owner, repository = git.owner_and_repository
    return f"{owner}-{repository}-{hashlib.sha256(git.url.encode()).hexdigest()[:8]}"


class _Unowned:
    """A folder sink for one build that must not close the shared cluster client."""

    def __init__(self, inner: IntentsSink) -> None:
        self.apply = inner.apply

    async def close(self) -> None:
        return None
