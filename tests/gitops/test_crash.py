"""Crash safety of the git sink with real process deaths (the chaos points exit like kill -9):
killed after the push and before the pull request → exactly one pull request after restart;
killed after the merge was seen and before it was recorded → ``applied`` after restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.chaos import CRASH_EXIT_CODE, CRASH_MARKER
from chatbot.lifecycle import State
from testbench.gitea import GiteaRepo, GiteaServer
from tests.gitops.harness import FILE, git_env, story, targets

ROOT = Path(__file__).resolve().parents[2]


def run_proposer(env: dict[str, str], database: Path, *, crash_at: str | None = None,
                 until_settled: bool = False, log: Path) -> int:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    child_env = {**inherited, **env, **({"CHATBOT_CHAOS_CRASH_AT": crash_at} if crash_at
                                        else {})}
    argv = [sys.executable, "-m", "tests.gitops.proposer_child",
            f"sqlite+aiosqlite:///{database}", "90", *(["--until-settled"] if until_settled
                                                       else [])]
    with log.open("ab") as out:
        return subprocess.run(argv, cwd=ROOT, env=child_env, stdout=out,
                              stderr=subprocess.STDOUT, timeout=120, check=False).returncode


async def test_killed_after_the_push_and_before_the_pull_request_one_pull_request_after_restart(
    sqlite_sessions: async_sessionmaker[AsyncSession], gitea_server: GiteaServer,
    gitea_repo: GiteaRepo, tmp_path: Path,
) -> None:
    database, log = tmp_path / "chatbot.db", tmp_path / "proposer.log"
    env = git_env(gitea_server, gitea_repo, tmp_path / "child-git", batch_seconds=0)
    async with story(sqlite_sessions, gitea_server, gitea_repo, tmp_path / "git") as s:
        anomaly_id = await s.approve("e1")

        died = run_proposer(env, database, crash_at="after_push#1", log=log)
        assert died == CRASH_EXIT_CODE, log.read_text()
        assert f"{CRASH_MARKER}after_push" in log.read_text()
        branches = [b["name"] for b in gitea_server.api("GET", s.api_path("/branches"))]
        assert any(name.startswith("flow-bot/approvals-") for name in branches), branches
        assert s.pulls() == [], "the process died before opening the pull request"
        assert (await s.card(anomaly_id)).state is State.APPROVED

        # Restarted (the dead run's claim expires first), it finds its branch and opens one.
        assert run_proposer(env, database, log=log) == 0, log.read_text()
        assert run_proposer(env, database, log=log) == 0, log.read_text()
        (pull,) = s.pulls()
        assert targets(s.file(FILE, ref=pull["head"]["ref"]))
        assert (await s.card(anomaly_id)).state is State.PROPOSED


async def test_killed_between_seeing_the_merge_and_recording_it_applied_after_restart(
    sqlite_sessions: async_sessionmaker[AsyncSession], gitea_server: GiteaServer,
    gitea_repo: GiteaRepo, tmp_path: Path,
) -> None:
    database, log = tmp_path / "chatbot.db", tmp_path / "proposer.log"
    env = git_env(gitea_server, gitea_repo, tmp_path / "child-git", batch_seconds=0)
    async with story(sqlite_sessions, gitea_server, gitea_repo, tmp_path / "git") as s:
        anomaly_id = await s.approve("e1")
        assert run_proposer(env, database, log=log) == 0, log.read_text()
        (pull,) = s.pulls()
        s.merge(pull["number"])

        died = run_proposer(env, database, crash_at="before_settle#1", until_settled=True,
                            log=log)
        assert died == CRASH_EXIT_CODE, log.read_text()
        assert (await s.card(anomaly_id)).state is State.PROPOSED

        assert run_proposer(env, database, until_settled=True, log=log) == 0, log.read_text()
        assert (await s.card(anomaly_id)).state is State.APPLIED
        assert len(s.pulls()) == 1
