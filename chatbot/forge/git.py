"""Running the git CLI for the working copy: an asyncio subprocess with an isolated
configuration, the bot's identity, and the forge token handed to git through the environment
as an HTTP header scoped to the remote's origin.

The token never appears in argv (visible to every user in ``ps``), in the remote URL (which
git stores in .git/config and prints in errors), in logs or in error messages: output is
scrubbed of it before anything else sees it. Failures become ``TemporaryError`` (network,
timeouts, a forge that is down) or ``PermanentError`` (a refused token, a broken command).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from chatbot.errors import PermanentError, TemporaryError

log = logging.getLogger(__name__)

RETRY_DELAY = 15.0
# The user name GitHub expects beside a token in HTTP basic auth; Gitea accepts any name.
TOKEN_USER = "x-access-token"  # noqa: S105 - a user name, not a secret
_OUTPUT_CHARS = 600
_AUTH_REFUSED = ("authentication failed", "could not read username", "could not read password",
                 "terminal prompts disabled", "the requested url returned error: 401",
                 "the requested url returned error: 403", "permission denied", "invalid username")
_UNREACHABLE = ("could not resolve host", "connection refused", "connection timed out",
                "operation timed out", "failed to connect", "connection reset",
                "the requested url returned error: 5", "early eof", "unexpected disconnect",
                "the remote end hung up", "rpc failed", "gnutls_handshake")
_REJECTED = ("[rejected]", "non-fast-forward", "stale info", "fetch first",
             "updates were rejected", "[remote rejected]")


class PushRejected(TemporaryError):
    """The remote branch moved since the last fetch; fetch, rebuild the branch, push again."""


@dataclass(frozen=True)
class GitIdentity:
    """Who the bot's commits are by (author and committer)."""

    name: str
    email: str


@dataclass(frozen=True)
class GitOutput:
    returncode: int
    stdout: str
    stderr: str


class Git:
    """The git CLI configured for one remote; ``token`` authenticates HTTP(S) to it."""

    def __init__(
        self,
        *,
        remote_url: str,
        identity: GitIdentity,
        token: str | None = None,
        token_user: str = TOKEN_USER,
        executable: str = "git",
        timeout: float = 300.0,
    ) -> None:
        parts = urlsplit(remote_url)
        if parts.password is not None or parts.username is not None:
            raise PermanentError("the git remote URL must not carry credentials; "
                                 "give the token separately")
        self.remote_url = remote_url
        self._identity = identity
        self._executable = executable
        self._timeout = timeout
        self._secrets: list[str] = []
        self._config: list[tuple[str, str]] = [
            # No credential helper: nothing prompts, nothing is stored on disk.
            ("credential.helper", ""),
            ("core.askPass", ""),
            ("advice.detachedHead", "false"),
        ]
        if token:
            basic = base64.b64encode(f"{token_user}:{token}".encode()).decode()
            self._secrets = [token, basic, f"{token_user}:{token}"]
            if parts.scheme in ("http", "https"):
                origin = f"{parts.scheme}://{parts.netloc}/"
                # Scoped to the remote's origin, so a redirect elsewhere never carries it.
                self._config.append((f"http.{origin}.extraHeader",
                                     f"Authorization: Basic {basic}"))

    def __repr__(self) -> str:
        return f"Git({self.remote_url})"

    def scrub(self, text: str) -> str:
        """``text`` with every form of the token masked."""
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text

    async def run(
        self, *args: str, cwd: Path, check: bool = True, stdin: str | None = None
    ) -> GitOutput:
        """Run ``git args…`` in ``cwd`` (``stdin`` fed to it); with ``check`` a non-zero exit
        raises."""
        argv = [self._executable, *args]
        log.debug("git %s (in %s)", " ".join(args), cwd)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=self._env(),
                stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise PermanentError(f"git cannot be run ({exc.strerror}): is it installed?") from exc
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate(None if stdin is None else stdin.encode()), self._timeout)
        except TimeoutError as exc:
            process.kill()
            await process.wait()
            raise TemporaryError(f"git {_verb(args)} took over {self._timeout:.0f}s",
                                 delay=RETRY_DELAY) from exc
        output = GitOutput(process.returncode or 0, self.scrub(stdout.decode(errors="replace")),
                           self.scrub(stderr.decode(errors="replace")))
        if check and output.returncode != 0:
            raise self.failure(args, output)
        return output

    def failure(self, args: Sequence[str], output: GitOutput) -> Exception:
        """The error a failed command means, with git's (scrubbed) words in it."""
        # `push --porcelain` reports a rejected ref on stdout and the summary on stderr.
        said = " ".join(part for part in (output.stdout.strip(), output.stderr.strip())
                        if part)[-_OUTPUT_CHARS:]
        message = f"git {_verb(args)} failed ({output.returncode}): {said}"
        lowered = said.lower()
        if any(marker in lowered for marker in _REJECTED):
            return PushRejected(message, delay=1.0)
        if any(marker in lowered for marker in _AUTH_REFUSED):
            return PermanentError(f"{message} (the token was refused or lacks write access)")
        if any(marker in lowered for marker in _UNREACHABLE):
            return TemporaryError(message, delay=RETRY_DELAY)
        return PermanentError(message)

    def _env(self) -> dict[str, str]:
        # The caller's GIT_* variables (GIT_DIR, GIT_TRACE_CURL, ...) could redirect the command
        # or print the header; the user's and system's config could add helpers or rewrites.
        env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
        env.update({
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "LC_ALL": "C",
            "GIT_AUTHOR_NAME": self._identity.name,
            "GIT_AUTHOR_EMAIL": self._identity.email,
            "GIT_COMMITTER_NAME": self._identity.name,
            "GIT_COMMITTER_EMAIL": self._identity.email,
            "GIT_CONFIG_COUNT": str(len(self._config)),
        })
        for index, (key, value) in enumerate(self._config):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env


def _verb(args: Sequence[str]) -> str:
    return next((arg for arg in args if not arg.startswith("-")), "")
