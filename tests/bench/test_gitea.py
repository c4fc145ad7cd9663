"""The bench's Gitea is a real forge: a repository made through its REST API takes a commit
pushed with the git CLI over HTTP with the admin's token, and pull requests on it open, merge
and close through the REST API, merges landing on the base branch."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from testbench.gitea import GiteaRepo, GiteaServer


def git(*args: str, cwd: Path, token: str | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@bench.invalid",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@bench.invalid"}
    if token is not None:
        basic = base64.b64encode(f"bench-admin:{token}".encode()).decode()
        env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"})
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def push_branch(gitea: GiteaServer, repo: GiteaRepo, tmp: Path, branch: str, file: str) -> None:
    clone = tmp / branch
    git("clone", "--quiet", repo.clone_url, str(clone), cwd=tmp, token=gitea.token)
    git("checkout", "--quiet", "-b", branch, cwd=clone)
    (clone / file).write_text(f"written on {branch}\n")
    git("add", file, cwd=clone)
    git("commit", "--quiet", "-m", f"add {file}", cwd=clone)
    git("push", "--quiet", "origin", branch, cwd=clone, token=gitea.token)


def wait_mergeable(gitea: GiteaServer, path: str) -> dict[str, Any]:
    # Gitea checks mergeability in a background queue after the pull request opens.
    deadline = time.monotonic() + 30
    while True:
        pull: dict[str, Any] = gitea.api("GET", path)
        if pull["mergeable"] or time.monotonic() > deadline:
            return pull
        time.sleep(0.2)


def test_a_pushed_branch_becomes_a_pull_request_that_merges_into_main(
    gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path
) -> None:
    repo_path = f"/repos/{gitea_repo.owner}/{gitea_repo.name}"
    push_branch(gitea_server, gitea_repo, tmp_path, "bot/first", "first.yaml")
    branches = {b["name"] for b in gitea_server.api("GET", f"{repo_path}/branches")}
    assert branches == {"main", "bot/first"}

    created = gitea_server.api("POST", f"{repo_path}/pulls", {
        "head": "bot/first", "base": "main", "title": "First", "body": "why"})
    assert created["state"] == "open" and created["merged"] is False
    assert created["head"]["ref"] == "bot/first"
    pull = wait_mergeable(gitea_server, f"{repo_path}/pulls/{created['number']}")
    assert pull["mergeable"] is True

    gitea_server.api("POST", f"{repo_path}/pulls/{created['number']}/merge",
                     {"Do": "merge", "merge_message_field": "Merge first"})
    merged = gitea_server.api("GET", f"{repo_path}/pulls/{created['number']}")
    assert merged["state"] == "closed" and merged["merged"] is True
    assert merged["merge_commit_sha"]
    content = gitea_server.api("GET", f"{repo_path}/contents/first.yaml?ref=main")
    assert base64.b64decode(content["content"]) == b"written on bot/first\n"


def test_a_pull_request_closed_without_merge_leaves_main_alone(
    gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path
) -> None:
    repo_path = f"/repos/{gitea_repo.owner}/{gitea_repo.name}"
    push_branch(gitea_server, gitea_repo, tmp_path, "bot/second", "second.yaml")
    created = gitea_server.api("POST", f"{repo_path}/pulls", {
        "head": "bot/second", "base": "main", "title": "Second", "body": ""})

    closed = gitea_server.api("PATCH", f"{repo_path}/pulls/{created['number']}",
                              {"state": "closed"})
    assert closed["state"] == "closed" and closed["merged"] is False
    listed = gitea_server.api("GET", f"{repo_path}/pulls?state=closed")
    assert [p["number"] for p in listed] == [created["number"]]
    files = {f["name"] for f in gitea_server.api("GET", f"{repo_path}/contents?ref=main")}
    assert "second.yaml" not in files


def test_a_push_without_the_token_is_refused(
    gitea_server: GiteaServer, gitea_repo: GiteaRepo, tmp_path: Path
) -> None:
    clone = tmp_path / "anonymous"
    git("clone", "--quiet", gitea_repo.clone_url, str(clone), cwd=tmp_path)  # public: readable
    (clone / "x.yaml").write_text("x\n")
    git("add", "x.yaml", cwd=clone)
    git("commit", "--quiet", "-m", "x", cwd=clone)
    done = subprocess.run(["git", "push", "origin", "main"], cwd=clone, capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    assert done.returncode != 0
