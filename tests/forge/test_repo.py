"""The git sink's working copy against the bench's real Gitea over HTTP: it clones, branches
off the base, commits as the bot and pushes; a restarted bot resumes the pushed branch; a base
branch that moved is rebased onto (or merged), a conflict is reported rather than overwritten;
a push over someone else's change is refused; and the token shows up nowhere: not in git's
argv, the remote URL, the logs or an error message."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

import pytest

from chatbot.errors import PermanentError
from chatbot.forge.git import Git, PushRejected
from chatbot.forge.repo import WorkingCopy
from testbench.gitea import GiteaRepo, GiteaServer
from tests.forge.conftest import BOT, push_file, working_copy

BRANCH = "flow-bot/batch-7"
FILE = "intents/checkout.shop.yaml"


def person_copy(gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path) -> WorkingCopy:
    """Someone else's clone, pushing straight to the base branch."""
    return working_copy(gitea_server, gitea_repo, tmp_path / "person")


async def test_a_commit_by_the_bot_lands_on_the_bot_branch(
    bot_copy: WorkingCopy, gitea_server: GiteaServer, gitea_repo: GiteaRepo
) -> None:
    base = await bot_copy.sync()
    assert await bot_copy.start_branch(BRANCH) is False  # nothing to resume
    assert bot_copy.read(FILE) is None and bot_copy.read("README.md") is not None
    bot_copy.write(FILE, "targets: [payments]\n")
    sha = await bot_copy.commit("Allow checkout -> payments\n\nApproved by alice")
    assert sha is not None
    await bot_copy.push(BRANCH)

    commit = gitea_server.api("GET", f"/repos/{gitea_repo.owner}/{gitea_repo.name}/git/"
                                     f"commits/{sha}")
    assert commit["commit"]["author"]["name"] == BOT.name
    assert commit["commit"]["committer"]["email"] == BOT.email
    assert commit["commit"]["message"].startswith("Allow checkout -> payments")
    assert [parent["sha"] for parent in commit["parents"]] == [base]
    assert await bot_copy.commit("nothing new") is None


async def test_a_restarted_bot_resumes_its_pushed_branch(
    bot_copy: WorkingCopy, gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path
) -> None:
    pushed = await push_file(bot_copy, BRANCH, FILE, "targets: [payments]\n")
    # A fresh process on a fresh disk: only the remote remembers.
    restarted = working_copy(gitea_server, gitea_repo, tmp_path / "restarted")
    await restarted.sync()
    assert await restarted.remote_head(BRANCH) == pushed
    assert await restarted.start_branch(BRANCH) is True
    assert restarted.read(FILE) == "targets: [payments]\n"
    assert await restarted.head() == pushed

    assert await restarted.start_branch(BRANCH, resume=False) is False
    assert restarted.read(FILE) is None  # rebuilt from the base


async def test_leftovers_of_a_crashed_run_do_not_reach_the_next_commit(
    bot_copy: WorkingCopy,
) -> None:
    await bot_copy.sync()
    await bot_copy.start_branch(BRANCH)
    bot_copy.write("intents/half-written.yaml", "targ")
    await bot_copy.start_branch(BRANCH)
    assert bot_copy.read("intents/half-written.yaml") is None
    assert await bot_copy.commit("nothing") is None


async def test_a_moved_base_is_rebased_onto_when_it_does_not_conflict(
    bot_copy: WorkingCopy, gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path
) -> None:
    await push_file(bot_copy, BRANCH, FILE, "targets: [payments]\n")
    person = person_copy(gitea_server, gitea_repo, tmp_path)
    moved = await push_file(person, "main", "intents/other.shop.yaml", "someone else's\n")

    await bot_copy.sync()
    assert await bot_copy.base_moved()
    assert await bot_copy.rebase_onto_base() is True
    assert not await bot_copy.base_moved()
    with pytest.raises(PushRejected):
        await bot_copy.push(BRANCH)  # history was rewritten: a plain push must not do it
    await bot_copy.push(BRANCH, replace=True)

    check = working_copy(gitea_server, gitea_repo, tmp_path / "check")
    await check.sync()
    await check.start_branch(BRANCH)
    assert check.read(FILE) == "targets: [payments]\n"
    assert check.read("intents/other.shop.yaml") == "someone else's\n"
    assert moved != await check.head()


async def test_a_moved_base_can_be_merged_in_without_rewriting_history(
    bot_copy: WorkingCopy, gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path
) -> None:
    pushed = await push_file(bot_copy, BRANCH, FILE, "targets: [payments]\n")
    await push_file(person_copy(gitea_server, gitea_repo, tmp_path), "main",
                    "intents/other.shop.yaml", "someone else's\n")
    await bot_copy.sync()
    assert await bot_copy.merge_base_in("Merge main into the bot branch") is True
    await bot_copy.push(BRANCH)  # a fast-forward of what was pushed
    assert await bot_copy.remote_head(BRANCH) != pushed
    assert bot_copy.read("intents/other.shop.yaml") == "someone else's\n"


async def test_a_conflicting_change_on_the_base_is_reported_not_overwritten(
    bot_copy: WorkingCopy, gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path
) -> None:
    pushed = await push_file(bot_copy, BRANCH, FILE, "targets: [payments]\n")
    await push_file(person_copy(gitea_server, gitea_repo, tmp_path), "main", FILE,
                    "targets: [ledger]\n")
    await bot_copy.sync()
    assert await bot_copy.rebase_onto_base() is False
    assert await bot_copy.head() == pushed and bot_copy.read(FILE) == "targets: [payments]\n"
    assert await bot_copy.merge_base_in("Merge main") is False
    assert await bot_copy.head() == pushed

    # What the sink does then: rebuild from the base and write the merged document.
    await bot_copy.start_branch(BRANCH, resume=False)
    assert bot_copy.read(FILE) == "targets: [ledger]\n"
    bot_copy.write(FILE, "targets: [ledger, payments]\n")
    await bot_copy.commit("Allow checkout -> payments")
    await bot_copy.push(BRANCH, replace=True)
    assert not await bot_copy.base_moved()


async def test_a_push_over_a_branch_someone_else_moved_is_refused(
    bot_copy: WorkingCopy, gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path
) -> None:
    await push_file(bot_copy, BRANCH, FILE, "targets: [payments]\n")
    other = working_copy(gitea_server, gitea_repo, tmp_path / "other")
    await push_file(other, BRANCH, "intents/extra.yaml", "extra\n")

    await bot_copy.start_branch(BRANCH, resume=False)  # still the old view of the remote
    bot_copy.write(FILE, "targets: [payments, ledger]\n")
    await bot_copy.commit("rebuild")
    with pytest.raises(PushRejected):
        await bot_copy.push(BRANCH)
    with pytest.raises(PushRejected):
        await bot_copy.push(BRANCH, replace=True)  # the lease protects the other push


def test_paths_outside_the_tree_are_refused(bot_copy: WorkingCopy) -> None:
    for bad in ("../escape.yaml", "/etc/passwd", ".git/config", "intents/../../x", ""):
        with pytest.raises(PermanentError, match="outside the repository"):
            bot_copy.write(bad, "x")


def test_a_remote_url_with_credentials_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PermanentError) as refused:
        WorkingCopy.for_remote(path=tmp_path, remote_url="https://bot:s3cr3t@forge.test/x.git",
                               base_branch="main", identity=BOT)
    assert "s3cr3t" not in str(refused.value)


@pytest.fixture
def recording_git(tmp_path: Path) -> tuple[str, Path]:
    """A git that writes down its argv, then runs the real git."""
    record = tmp_path / "argv.log"
    shim = tmp_path / "git-recording"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{record}"\nexec git "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return str(shim), record


async def test_the_token_appears_in_no_argv_url_log_or_error(
    gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path,
    recording_git: tuple[str, Path], caplog: pytest.LogCaptureFixture,
) -> None:
    shim, record = recording_git
    caplog.set_level(logging.DEBUG, logger="chatbot.forge")
    good = working_copy(gitea_server, gitea_repo, tmp_path / "good", executable=shim)
    await push_file(good, BRANCH, FILE, "targets: [payments]\n")

    wrong_token = "f" * 40
    wrong = working_copy(gitea_server, gitea_repo, tmp_path / "wrong", token=wrong_token,
                         executable=shim)
    # Gitea refuses a bad token outright, even for reading a public repository.
    with pytest.raises(PermanentError) as refused:
        await wrong.sync()
    assert "token was refused" in str(refused.value)

    argv = record.read_text()
    assert "push" in argv and "fetch" in argv and "Authorization" not in argv
    for secret in (gitea_server.token, wrong_token):
        assert secret not in argv
        assert secret not in str(refused.value)
        assert secret not in caplog.text
        for copy in ("good", "wrong"):
            assert secret not in (tmp_path / copy / ".git" / "config").read_text()
    assert "GIT_CONFIG_VALUE" not in os.environ  # handed to git only, not to this process


async def test_git_output_that_would_show_the_token_is_scrubbed(tmp_path: Path) -> None:
    token = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
    git = Git(remote_url="https://forge.test/org/gitops.git", identity=BOT, token=token)
    # The header git was handed really is there, and scoped to the remote's origin...
    shown = await git.run("config", "--get-regexp", "extraheader", cwd=tmp_path)
    assert shown.stdout.startswith("http.https://forge.test/.extraheader Authorization: Basic ")
    # ...but nothing that leaves Git.run carries it, in plain or base64 form.
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert token not in shown.stdout and basic not in shown.stdout
    assert "********" in shown.stdout


async def test_a_run_killed_mid_rebase_leaves_nothing_the_next_run_trips_on(
    bot_copy: WorkingCopy, gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path
) -> None:
    await push_file(bot_copy, BRANCH, FILE, "targets: [payments]\n")
    await push_file(person_copy(gitea_server, gitea_repo, tmp_path), "main", FILE,
                    "targets: [ledger]\n")
    await bot_copy.sync()
    # What a kill -9 during `git rebase` leaves: a rebase stopped on its conflict.
    stopped = await bot_copy._git.run("rebase", "origin/main", cwd=bot_copy.path, check=False)
    assert stopped.returncode != 0 and (bot_copy.path / ".git" / "rebase-merge").exists()

    assert await bot_copy.start_branch(BRANCH) is True
    assert bot_copy.read(FILE) == "targets: [payments]\n"
    assert await bot_copy.rebase_onto_base() is False  # a clean refusal, not "in progress"
