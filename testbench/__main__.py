"""``python -m testbench``: install the bench, or run it for local development.

    python -m testbench install        # build/fetch every component into the cache (idempotent)
    python -m testbench up             # start everything on loopback, print CHATBOT_* exports
    eval "$(python -m testbench env)"  # load those settings into a shell
    python -m testbench down           # stop what `up` started
    python -m testbench.slack click …  # post a signed button click to a running service
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from kubernetes_asyncio import client, config

from testbench import (
    browser,
    cyclonus,
    gitea,
    github_openapi,
    helm,
    hubble_build,
    kafka,
    kube,
    kubectl_build,
    postgres,
    redis,
)
from testbench.kube_crd import CLIENTINTENTS_CRD, apply_crd
from testbench.paths import cache_dir
from testbench.process import BenchError, free_port, port_open, progress, stop_pid

INSTALLERS: dict[str, Callable[[], object]] = {
    "kafka": kafka.install, "kube": kube.install, "postgres": postgres.install,
    "redis": redis.install, "chromium": browser.install,
    "helm": helm.install, "kubectl": kubectl_build.install, "cyclonus": cyclonus.install,
    "gitea": gitea.install,
    "github-openapi": github_openapi.install, "hubble": hubble_build.install,
}


def state_file() -> Path:
    return cache_dir("up") / "state.json"


def install(names: Sequence[str]) -> None:
    for name in names:
        started = time.monotonic()
        progress(f"{name}: installing (cached after the first run)")
        INSTALLERS[name]()
        progress(f"{name}: ready in {time.monotonic() - started:.1f}s")


def up() -> dict[str, str]:
    if state_file().exists():
        raise BenchError("bench", "already up; run `python -m testbench down` first")
    env: dict[str, str] = {}
    pids: list[int] = []
    handles = []
    try:
        for module in (kafka, kube, postgres, redis, gitea):
            handle = module.start()
            handles.append(handle)
            env.update(handle.env())
            progress(handle.describe())
        cluster = next(h for h in handles if isinstance(h, kube.KubeCluster))
        asyncio.run(_prepare_cluster(cluster.admin_kubeconfig))
        forge = next(h for h in handles if isinstance(h, gitea.GiteaServer))
        gitops = forge.create_repo("gitops")
        env.update({"CHATBOT_GIT_URL": gitops.clone_url,
                    "CHATBOT_GIT_BASE_BRANCH": gitops.default_branch})
        progress(f"gitea: repository {gitops.html_url} for the git sink")
        rules = cache_dir("up") / "rules.yaml"
        rules.write_text(UP_RULES)
        env["CHATBOT_CONFIG"] = str(rules)
        port = free_port()
        secret = os.urandom(16).hex()
        # The stand-in accepts only the token it is given, as Slack accepts only the tokens
        # it issued.
        standin = subprocess.Popen(
            [sys.executable, "-m", "testbench.slack", "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "CHATBOT_SLACK_BOT_TOKEN": "xoxb-bench-token",
                 "CHATBOT_SLACK_SIGNING_SECRET": secret})
        deadline = time.monotonic() + 20
        while not port_open(port):
            if time.monotonic() > deadline or standin.poll() is not None:
                raise BenchError("slack stand-in", "did not start")
            time.sleep(0.1)
        pids.append(standin.pid)
        env.update({"CHATBOT_SLACK_API_URL": f"http://127.0.0.1:{port}/api/",
                    "CHATBOT_SLACK_BOT_TOKEN": "xoxb-bench-token",
                    "CHATBOT_SLACK_SIGNING_SECRET": secret,
                    "CHATBOT_INTENTS_SINK": "kubernetes"})
    except BaseException:
        for handle in handles:
            handle.stop()
        raise
    pids.extend(_pids_of(handles))
    state_file().write_text(json.dumps({"pids": pids, "env": env}, indent=2))
    return env


UP_RULES = """# written by `python -m testbench up`: everything to #flow-alerts, U0OWNER decides
channels: {default: flow-alerts, war_room: war-room}
approvers:
  - {namespaces: ["*"], users: [U0OWNER]}
"""


# The client namespaces of the bundled sample flows, so approving a sample works by hand.
SAMPLE_NAMESPACES = ("rps", "kafka", "monitoring")


async def _prepare_cluster(kubeconfig: Path) -> None:
    api_client = await config.new_client_from_config(config_file=str(kubeconfig),
                                                     persist_config=False)
    try:
        await apply_crd(api_client, CLIENTINTENTS_CRD)
        core = client.CoreV1Api(api_client)
        for name in SAMPLE_NAMESPACES:
            await core.create_namespace(client.V1Namespace(
                metadata=client.V1ObjectMeta(name=name)))
    finally:
        await api_client.close()


def down() -> None:
    path = state_file()
    if not path.exists():
        progress("nothing is up")
        return
    for pid in json.loads(path.read_text())["pids"]:
        stop_pid(pid)
    path.unlink()
    progress("stopped")


def _pids_of(handles: list[object]) -> list[int]:
    pids: list[int] = []
    for handle in handles:
        for value in vars(handle).values():
            pid = getattr(value, "pid", None)
            if isinstance(pid, int):
                pids.append(pid)
    return pids


def exports(env: dict[str, str]) -> str:
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("install", help="build/fetch the components (idempotent)")
    setup.add_argument("components", nargs="*", help=f"any of {', '.join(INSTALLERS)} "
                       "(default: all)")
    commands.add_parser("up", help="start every component and print CHATBOT_* exports")
    commands.add_parser("env", help="print the exports of the running bench")
    commands.add_parser("down", help="stop the running bench")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            unknown = set(args.components) - set(INSTALLERS)
            if unknown:
                parser.error(f"unknown component(s): {', '.join(sorted(unknown))}")
            install(args.components or list(INSTALLERS))
        elif args.command == "up":
            print(exports(up()))
        elif args.command == "env":
            if not state_file().exists():
                raise BenchError("bench", "not up; run `python -m testbench up`")
            print(exports(json.loads(state_file().read_text())["env"]))
        else:
            down()
    except BenchError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
