"""The git sink's settings and the pull request's text, pure: no forge needed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatbot.card import Card
from chatbot.config.settings import settings_from_env
from chatbot.errors import ConfigError
from chatbot.events.model import KubernetesTarget, Reason, Severity, Workload
from chatbot.gitops.body import body, chat_link, title
from chatbot.lifecycle import State

BASE = {"CHATBOT_INTENTS_SINK": "git", "CHATBOT_GIT_URL": "https://github.com/org/gitops.git",
        "CHATBOT_GIT_TOKEN": "github_pat_secret"}


def test_github_is_inferred_and_the_token_never_shows() -> None:
    git = settings_from_env(BASE).git
    assert git is not None
    assert (git.forge, git.api_url, git.owner_and_repository) == (
        "github", "https://api.github.com", ("org", "gitops"))
    assert (git.base_branch, git.folder, git.batch_seconds) == ("main", "intents", 60.0)
    assert "github_pat_secret" not in repr(git)


@pytest.mark.parametrize(("change", "complaint"), [
    ({"CHATBOT_GIT_URL": "https://bot:pw@github.com/org/gitops.git"}, "credentials"),
    ({"CHATBOT_GIT_URL": "git@github.com:org/gitops.git"}, "clone URL"),
    ({"CHATBOT_GIT_TOKEN": ""}, "CHATBOT_GIT_TOKEN"),
    ({"CHATBOT_GIT_URL": "https://gitea.example/org/gitops.git"}, "CHATBOT_GIT_FORGE"),
    ({"CHATBOT_GIT_BATCH_SECONDS": "soon"}, "seconds"),
    ({"CHATBOT_GIT_FOLDER": "../outside"}, "inside"),
])
def test_unworkable_git_settings_are_refused(change: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        settings_from_env({**BASE, **change})


def test_the_body_names_flow_approver_time_and_links_back_to_the_chat_message() -> None:
    when = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    card = Card(anomaly_id="a" * 32, cluster="prod",
                client=Workload(name="web", namespace="rps", kind="Deployment"),
                target=KubernetesTarget(name="game`api", namespace="rps", kind=None, port=8080,
                                        protocol="TCP"),
                reason=Reason.NO_INTENT, severity=Severity.LOW, state=State.APPROVED,
                version=2, event_count=3, first_seen=when, last_seen=when,
                decided_by="U0OWNER", decided_at=when, slack_channel_id="C0FLOWS",
                slack_ts="1764494100.000200")
    assert chat_link(card) == "https://slack.com/archives/C0FLOWS/p1764494100000200"
    text = body([card], files=["intents/web.rps.yaml"])
    assert "`rps/web` → `rps/game'api`" in text  # a backtick cannot break out of the span
    assert "Approved by `U0OWNER` at 2026-11-30 09:15:00 UTC" in text
    assert "Chat message: https://slack.com/archives/C0FLOWS/p1764494100000200" in text
    assert "Justification: none given" in text
    assert title([card]) == "Allow rps/web → rps/game`api"
