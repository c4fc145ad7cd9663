"""The git sink's stories on the bench's real Gitea: an approval becomes one pull request with
the file and a body naming the flow and its approver; merging it makes the card ``applied``;
closing it sends the flow back to a decision; two approvals inside the window share one pull
request; a commit on the base branch touching the same file meanwhile keeps both sets of
targets."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chatbot.card import pull_request_look
from chatbot.lifecycle import Action, State
from testbench.gitea import GiteaRepo, GiteaServer
from tests.gitops.harness import APPROVER, FILE, story, targets

GAME_API = {"kubernetes": {"name": "game-api", "http": [{"path": "/api/play",
                                                          "methods": ["POST"]}]}}


async def test_an_approval_becomes_one_pull_request_naming_the_flow_and_its_approver(
    sqlite_sessions: async_sessionmaker[AsyncSession], gitea_server: GiteaServer,
    gitea_repo: GiteaRepo, tmp_path: Path,
) -> None:
    async with story(sqlite_sessions, gitea_server, gitea_repo, tmp_path) as s:
        anomaly_id = await s.approve("e1")
        await s.proposer.step(poll=False)
        assert s.pulls() == [], "nothing is proposed before the batch window closes"
        assert (await s.card(anomaly_id)).state is State.APPROVED

        await s.window_passes()
        pulls = s.pulls()
        assert len(pulls) == 1
        pull = pulls[0]
        assert "rps/web" in pull["title"] and "game-api" in pull["title"]
        assert "`rps/web` → `rps/game-api`" in pull["body"]
        assert f"Approved by `{APPROVER}`" in pull["body"]
        assert "Justification: none given" in pull["body"]
        assert FILE in pull["body"]
        written = s.file(FILE, ref=pull["head"]["ref"])
        assert written["kind"] == "ClientIntents"
        assert targets(written) == [GAME_API]

        card = await s.card(anomaly_id)
        assert card.state is State.PROPOSED
        look = pull_request_look(card)
        assert look is not None and look.url == pull["html_url"] and look.state == "open"
        # Another pass (and a restart would be the same) opens nothing more.
        await s.proposer.step(poll=True)
        assert len(s.pulls()) == 1


async def test_merging_the_pull_request_makes_the_card_applied(
    sqlite_sessions: async_sessionmaker[AsyncSession], gitea_server: GiteaServer,
    gitea_repo: GiteaRepo, tmp_path: Path,
) -> None:
    async with story(sqlite_sessions, gitea_server, gitea_repo, tmp_path) as s:
        anomaly_id = await s.approve("e1")
        await s.window_passes()
        (pull,) = s.pulls()
        s.merge(pull["number"])

        await s.proposer.step(poll=True)
        card = await s.card(anomaly_id)
        assert card.state is State.APPLIED
        look = pull_request_look(card)
        assert look is not None and look.state == "merged"
        assert targets(s.file(FILE, ref="main")) == [GAME_API]
        assert [(e.actor, e.action, e.result) for e in await s.audit(anomaly_id)][:2] == [
            ("forge", "merge", "applied"), ("system", "propose", "proposed")]


async def test_closing_the_pull_request_sends_the_flow_back_to_a_decision(
    sqlite_sessions: async_sessionmaker[AsyncSession], gitea_server: GiteaServer,
    gitea_repo: GiteaRepo, tmp_path: Path,
) -> None:
    async with story(sqlite_sessions, gitea_server, gitea_repo, tmp_path) as s:
        anomaly_id = await s.approve("e1")
        await s.window_passes()
        (pull,) = s.pulls()
        s.close(pull["number"])

        await s.proposer.step(poll=True)
        card = await s.card(anomaly_id)
        assert card.state is State.PENDING
        assert card.decided_by is None and card.approvals == ()
        assert Action.APPROVE in card.actions
        look = pull_request_look(card)
        assert look is not None and look.state == "closed"
        assert f"#{pull['number']} was closed without merging" in look.text
        latest = (await s.audit(anomaly_id))[0]
        assert (latest.actor, latest.action, latest.result) == ("forge", "close", "reopened")

        # Approved again, it goes out in a new batch: a second, new pull request.
        await s.approve("e1-again")
        await s.window_passes()
        assert len(s.pulls()) == 2
        assert (await s.card(anomaly_id)).state is State.PROPOSED


async def test_two_approvals_inside_the_window_share_one_pull_request(
    sqlite_sessions: async_sessionmaker[AsyncSession], gitea_server: GiteaServer,
    gitea_repo: GiteaRepo, tmp_path: Path,
) -> None:
    async with story(sqlite_sessions, gitea_server, gitea_repo, tmp_path) as s:
        play = await s.approve("e1", path="/api/play")
        await s.proposer.step(poll=False)
        s.clock.advance(30)  # inside the 60 s window
        score = await s.approve("e2", path="/api/score")
        await s.window_passes()

        (pull,) = s.pulls()
        paths = {rule["path"] for target in targets(s.file(FILE, ref=pull["head"]["ref"]))
                 for rule in target["kubernetes"].get("http", [])}
        assert paths == {"/api/play", "/api/score"}
        assert "### 1." in pull["body"] and "### 2." in pull["body"]
        for anomaly_id in (play, score):
            assert (await s.card(anomaly_id)).state is State.PROPOSED


async def test_a_commit_on_the_base_branch_to_the_same_file_keeps_both_sets_of_targets(
    sqlite_sessions: async_sessionmaker[AsyncSession], gitea_server: GiteaServer,
    gitea_repo: GiteaRepo, tmp_path: Path,
) -> None:
    async with story(sqlite_sessions, gitea_server, gitea_repo, tmp_path) as s:
        anomaly_id = await s.approve("e1")
        await s.window_passes()
        (pull,) = s.pulls()
        # Meanwhile someone adds their own target to the same file on main.
        s.commit_file(FILE, (
            "apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\n"
            "metadata:\n  name: web\n  namespace: rps\n"
            "spec:\n  workload:\n    name: web\n    kind: Deployment\n"
            "  targets:\n  - kubernetes:\n      name: leaderboard\n"), message="by hand")

        await s.proposer.step(poll=True)  # sees the base moved, rebuilds the branch
        s.merge(pull["number"])
        await s.proposer.step(poll=True)

        assert (await s.card(anomaly_id)).state is State.APPLIED
        on_main = targets(s.file(FILE, ref="main"))
        assert {"kubernetes": {"name": "leaderboard"}} in on_main
        assert GAME_API in on_main
        assert [e.action for e in await s.audit(anomaly_id)].count("rebuild") == 1
