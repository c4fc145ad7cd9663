"""The demo's intents folder is a local git repository: each approval made on the review
page's decision code is one commit, and ``git log`` tells the story."""

from __future__ import annotations

import subprocess

from chatbot.demo import DEMO_USER, Demo
from chatbot.lifecycle import Action, State
from chatbot.store import anomalies


def git(demo: Demo, *args: str) -> str:
    return subprocess.run(["git", "-C", str(demo.intents_dir), *args], capture_output=True,
                          text=True, check=True).stdout


async def test_each_approval_is_one_commit_in_the_intents_folder(demo: Demo) -> None:
    async with demo.sessions() as session:
        pending = await anomalies.cards(session, states=[State.PENDING], limit=2)
    assert len(pending) == 2
    for card in pending:
        await demo.decider.decide(anomaly_id=card.anomaly_id, action=Action.APPROVE,
                                  user_id=DEMO_USER)
        await demo.applier.apply_due()

    log = git(demo, "log", "--format=%s%n%b%x00")
    commits = [entry.strip() for entry in log.split("\x00") if entry.strip()]
    assert len(commits) == 2
    for card in pending:
        assert any(card.anomaly_id in commit and DEMO_USER in commit for commit in commits)
    status = git(demo, "status", "--porcelain")
    assert status == "", "every written file is committed"
