"""The forge adapters are edge I/O for the git sink: they import nothing of the store, Slack,
the applier or the lifecycle, so the sink composes them and not the other way round."""

from __future__ import annotations

import ast
from pathlib import Path

import chatbot.forge
from chatbot.forge.gitea import GiteaForge
from chatbot.forge.github import GitHubForge
from chatbot.forge.pull_request import Forge

ALLOWED_CHATBOT_IMPORTS = {"chatbot.errors", "chatbot.forge"}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_forge_modules_import_only_errors_and_each_other_from_the_service() -> None:
    package = Path(chatbot.forge.__file__).parent
    for path in sorted(package.glob("*.py")):
        service = {name for name in imported_modules(path)
                   if name == "chatbot" or name.startswith("chatbot.")}
        stray = {name for name in service
                 if not any(name == allowed or name.startswith(allowed + ".")
                            for allowed in ALLOWED_CHATBOT_IMPORTS)}
        assert not stray, f"{path.name} imports {sorted(stray)}"


def both_adapters_are_forges(gitea: GiteaForge, github: GitHubForge) -> list[Forge]:
    """Never called: mypy --strict checks here that both adapters satisfy the Protocol."""
    return [gitea, github]
