"""``python -m testbench up`` starts a bench a person can point ``chatbot serve`` at, prints
its settings, and ``down`` stops it again."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from testbench.process import port_open

BENCH = [sys.executable, "-m", "testbench"]


def bench(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATBOT_BENCH_CACHE": str(cache)}
    return subprocess.run([*BENCH, *args], env=env, capture_output=True, text=True,
                          timeout=240, check=False)


def exported(text: str) -> dict[str, str]:
    pairs = (shlex.split(line.removeprefix("export "))[0].split("=", 1)
             for line in text.splitlines() if line.startswith("export "))
    return {key: value for key, value in pairs}


def test_up_prints_settings_for_every_component_and_down_stops_them(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shared = Path(os.environ.get("CHATBOT_BENCH_CACHE", Path.home() / ".cache/chatbot-bench"))
    cache.mkdir()
    for built in ("kafka", "kube", "gitea"):  # reuse what the session already built
        (cache / built).symlink_to(shared / built)
    started = bench("up", cache=cache)
    assert started.returncode == 0, started.stderr
    try:
        env = exported(started.stdout)
        assert {"CHATBOT_KAFKA_BOOTSTRAP", "CHATBOT_KUBECONFIG", "CHATBOT_DATABASE_URL",
                "CHATBOT_REDIS_URL", "CHATBOT_SLACK_API_URL", "CHATBOT_SLACK_BOT_TOKEN",
                "CHATBOT_SLACK_SIGNING_SECRET", "CHATBOT_CONFIG", "CHATBOT_GIT_FORGE",
                "CHATBOT_GIT_API_URL", "CHATBOT_GIT_TOKEN", "CHATBOT_GIT_URL"} <= env.keys()
        assert exported(bench("env", cache=cache).stdout) == env
        for url in (env["CHATBOT_DATABASE_URL"], env["CHATBOT_REDIS_URL"],
                    env["CHATBOT_SLACK_API_URL"], "kafka://" + env["CHATBOT_KAFKA_BOOTSTRAP"],
                    env["CHATBOT_GIT_API_URL"], env["CHATBOT_GIT_URL"]):
            port = urlparse(url).port
            assert port and port_open(port), url
        assert "U0OWNER" in Path(env["CHATBOT_CONFIG"]).read_text()
        assert bench("up", cache=cache).returncode == 1  # already up: refused, not doubled
    finally:
        stopped = bench("down", cache=cache)
    assert stopped.returncode == 0
    assert not port_open(urlparse(env["CHATBOT_SLACK_API_URL"]).port or 0)
    assert bench("env", cache=cache).returncode == 1
