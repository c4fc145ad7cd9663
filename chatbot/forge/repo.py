"""The git sink's working copy of the GitOps repository: keep a clone up to date with the
base branch, put the bot branch where a batch needs it, write the intent files, commit them as
the bot, push, and bring the branch up to date when the base branch moved meanwhile.

Everything goes through the git CLI (chatbot/forge/git.py), so the repository on disk is an
ordinary clone a person can inspect. The branch is always rebuilt from what the remote holds
(``origin/<branch>`` or ``origin/<base>``), never from whatever a crashed run left behind.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from chatbot.errors import PermanentError
from chatbot.forge.git import TOKEN_USER, Git, GitIdentity

_REMOTE = "origin"


class WorkingCopy:
    """A clone of ``git.remote_url`` at ``path``, proposing changes against ``base_branch``."""

    def __init__(self, *, path: Path, git: Git, base_branch: str) -> None:
        self.path = path
        self.base_branch = base_branch
        self._git = git

    def __repr__(self) -> str:
        return f"WorkingCopy({self.path}, {self._git!r}, base {self.base_branch})"

    @classmethod
    def for_remote(
        cls,
        *,
        path: Path,
        remote_url: str,
        base_branch: str,
        identity: GitIdentity,
        token: str | None = None,
        token_user: str = TOKEN_USER,
        executable: str = "git",
    ) -> WorkingCopy:
        git = Git(remote_url=remote_url, identity=identity, token=token, token_user=token_user,
                  executable=executable)
        return cls(path=path, git=git, base_branch=base_branch)

    async def sync(self) -> str:
        """Clone on first use, fetch afterwards; returns the base branch's remote commit."""
        if not (self.path / ".git").is_dir():
            self.path.mkdir(parents=True, exist_ok=True)
            await self._run("init", "--quiet", "--initial-branch", self.base_branch)
            await self._run("remote", "add", _REMOTE, self._git.remote_url)
        else:
            # The URL may have changed in configuration; the token never lives there.
            await self._run("remote", "set-url", _REMOTE, self._git.remote_url)
        await self._run("fetch", "--quiet", "--prune", "--no-tags", _REMOTE,
                        f"+refs/heads/*:refs/remotes/{_REMOTE}/*")
        base = await self.remote_head(self.base_branch)
        if base is None:
            raise PermanentError(f"the repository has no branch {self.base_branch!r}")
        return base

    async def remote_head(self, branch: str) -> str | None:
        """The commit ``branch`` had on the remote at the last sync, or None."""
        found = await self._run("rev-parse", "--verify", "--quiet",
                                f"refs/remotes/{_REMOTE}/{branch}^{{commit}}", check=False)
        return found.strip() or None

    async def start_branch(self, branch: str, *, resume: bool = True) -> bool:
        """Check out ``branch``: from its remote copy when ``resume`` and it exists (a batch
        continued after a restart), else fresh from the base. True when it was resumed."""
        self._check_branch(branch)
        resumed = resume and await self.remote_head(branch) is not None
        start = f"{_REMOTE}/{branch}" if resumed else f"{_REMOTE}/{self.base_branch}"
        # A run killed mid-rebase or mid-merge leaves that state behind; drop it first.
        if await self._rebase_in_progress():
            await self._run("rebase", "--abort", check=False)
        if (self.path / ".git" / "MERGE_HEAD").exists():
            await self._run("merge", "--abort", check=False)
        await self._run("checkout", "--quiet", "--force", "-B", branch, start)
        # Leftovers of an interrupted run (untracked files, a half-done rebase) must not leak
        # into the next commit.
        await self._run("clean", "--quiet", "-d", "--force")
        return resumed

    async def head(self) -> str:
        return (await self._run("rev-parse", "HEAD")).strip()

    def read(self, relative: str) -> str | None:
        """A file of the checked-out branch, or None when it does not exist."""
        target = self._inside(relative)
        return target.read_text(encoding="utf-8") if target.is_file() else None

    def write(self, relative: str, text: str) -> None:
        target = self._inside(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    async def commit(self, message: str) -> str | None:
        """Commit every change in the tree as the bot; None when nothing changed."""
        await self._run("add", "--all")
        staged = await self._git.run("diff", "--cached", "--quiet", cwd=self.path, check=False)
        if staged.returncode == 0:
            return None
        await self._run("commit", "--quiet", "--no-verify", "--file", "-", stdin=message)
        return await self.head()

    async def push(self, branch: str, *, replace: bool = False) -> None:
        """Push the current commit to ``branch`` on the remote. A plain push must fast-forward;
        ``replace`` overwrites the branch, but only if it is still where the last sync saw it
        (anything else raises PushRejected: sync and rebuild)."""
        self._check_branch(branch)
        args = ["push", "--quiet", "--porcelain", _REMOTE, f"HEAD:refs/heads/{branch}"]
        if replace:
            expected = await self.remote_head(branch) or ""
            args.insert(1, f"--force-with-lease=refs/heads/{branch}:{expected}")
        await self._run(*args)
        # Keep the remote-tracking ref in step, so the next lease expects this push.
        await self._run("update-ref", f"refs/remotes/{_REMOTE}/{branch}", "HEAD")

    async def base_moved(self) -> bool:
        """True when the base branch (as last synced) is not contained in HEAD."""
        contained = await self._git.run(
            "merge-base", "--is-ancestor", f"{_REMOTE}/{self.base_branch}", "HEAD",
            cwd=self.path, check=False)
        return contained.returncode != 0

    async def rebase_onto_base(self) -> bool:
        """Replay the branch's commits on the synced base. False (and the branch unchanged)
        when they conflict; the caller then rebuilds the branch from the base. A rebased
        branch needs ``push(..., replace=True)``."""
        done = await self._git.run("rebase", "--quiet", f"{_REMOTE}/{self.base_branch}",
                                   cwd=self.path, check=False)
        if done.returncode == 0:
            return True
        await self._git.run("rebase", "--abort", cwd=self.path, check=False)
        if await self._rebase_in_progress():
            raise self._git.failure(("rebase",), done)
        return False

    async def merge_base_in(self, message: str) -> bool:
        """Merge the synced base into the branch (no history rewrite, a plain push follows).
        False (and the branch unchanged) on conflict."""
        done = await self._git.run("merge", "--quiet", "--no-ff", "--no-edit", "-m", message,
                                   f"{_REMOTE}/{self.base_branch}", cwd=self.path, check=False)
        if done.returncode == 0:
            return True
        await self._git.run("merge", "--abort", cwd=self.path, check=False)
        return False

    async def _rebase_in_progress(self) -> bool:
        git_dir = self.path / ".git"
        return (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists()

    async def _run(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        return (await self._git.run(*args, cwd=self.path, check=check, stdin=stdin)).stdout

    def _inside(self, relative: str) -> Path:
        # Paths come from workload names: refuse anything that could leave the tree or touch
        # git's own files.
        posix = PurePosixPath(relative)
        if (posix.is_absolute() or not posix.parts or ".." in posix.parts
                or posix.parts[0] == ".git"):
            raise PermanentError(f"refusing to write {relative!r} outside the repository tree")
        return self.path.joinpath(*posix.parts)

    @staticmethod
    def _check_branch(branch: str) -> None:
        if not branch or branch.startswith("-") or ".." in branch or " " in branch:
            raise PermanentError(f"{branch!r} is not a usable branch name")
