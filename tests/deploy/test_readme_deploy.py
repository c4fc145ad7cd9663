"""The README's "Deploying to a cluster" section, run as written against the bench's
apiserver with the bench's ``helm`` and ``kubectl``: the same commands, in the same order,
with the README's own values. Only the lines that need what the bench has not got are left
out — ``docker`` (a registry) and the two checks that need a running pod (nodes) — and the
story insists those are the only ones, so any other line the README gains is run too.

Then what an operator would find: the Secret in place before the pods, the Deployment
running the image step 1 pushed, the chart's ServiceAccount allowed exactly what the sink
does (``check-config --online`` as that ServiceAccount), an install without approvers or
without an image refused with a message saying what to give, and a rules ConfigMap edit
rolling the pods.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from testbench.fixtures.kafka import TopicFactory
from testbench.fixtures.kube import kube_api_client
from testbench.kafka import KafkaBroker
from testbench.kube import KubeCluster
from testbench.paths import cache_dir
from testbench.slack import SlackStandin
from tests.deploy.chart import REPO

pytestmark = pytest.mark.bench

README = REPO / "README.md"
NAMESPACE, RELEASE = "flow-approval", "chatbot"
DEPLOYMENT = "chatbot-flow-approval-chatbot"
CONFIGMAP_HEADING = "**Rules in a ConfigMap of your own**"
# What the bench cannot do: push images, and run pods (no kubelet, no nodes).
NOT_ON_THE_BENCH = (re.compile(r"^docker "), re.compile(r"^kubectl .*rollout status "),
                    re.compile(r"^kubectl .* exec "))
_FENCE = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Section:
    install: list[str]
    """The numbered steps' shell blocks, in order."""
    configmap: str
    """The block of the "rules in a ConfigMap" option."""


def deploy_section() -> Section:
    text = README.read_text()
    section = text.split("## Deploying to a cluster", 1)[1].split("\n## ", 1)[0]
    steps, option = section.split(CONFIGMAP_HEADING, 1)
    blocks = _FENCE.findall(steps)
    (configmap,) = _FENCE.findall(option)
    return Section(install=blocks, configmap=configmap)


def runnable(block: str) -> tuple[str, list[str]]:
    """The block without the lines the bench cannot run, and those lines."""
    kept: list[str] = []
    left_out: list[str] = []
    for line in block.splitlines():
        (left_out if any(p.match(line) for p in NOT_ON_THE_BENCH) else kept).append(line)
    return "\n".join(kept) + "\n", left_out


@dataclass
class Shell:
    """bash in a folder with the repository's deploy/ in it, helm, kubectl and chatbot on
    PATH, and KUBECONFIG pointing at the bench."""

    workdir: Path
    env: dict[str, str]

    def run(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=self.workdir,
                              env=self.env, capture_output=True, text=True, timeout=300,
                              check=False)


@dataclass
class Deployed:
    shell: Shell
    section: Section
    output: str
    left_out: list[str]
    kube: ApiClient


@pytest_asyncio.fixture(scope="module")
async def deployed(helm_binary: Path, kubectl_binary: Path, kube_cluster: KubeCluster,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployed]:
    workdir = tmp_path_factory.mktemp("operator")
    (workdir / "deploy").symlink_to(REPO / "deploy")
    home = cache_dir("helm", "home")  # helm and kubectl keep their caches there, not in ~
    path = os.pathsep.join([str(helm_binary.parent), str(kubectl_binary.parent),
                            str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    shell = Shell(workdir, {"PATH": path, "HOME": str(home),
                            "KUBECONFIG": str(kube_cluster.admin_kubeconfig)})
    section = deploy_section()
    script, left_out = "", []
    for block in section.install:
        kept, skipped = runnable(block)
        script += kept
        left_out += skipped
    done = await asyncio.to_thread(shell.run, script)
    assert done.returncode == 0, f"the README's deploy steps failed:\n{done.stdout}{done.stderr}"
    async with kube_api_client(kube_cluster.admin_kubeconfig) as kube:
        yield Deployed(shell=shell, section=section, output=done.stdout, left_out=left_out,
                       kube=kube)


def exports(section: Section) -> str:
    """Step 1's variables, as a later shell session of the same operator would have them."""
    return "".join(line + "\n" for line in section.install[0].splitlines()
                   if line.startswith("export "))


async def test_only_the_registry_and_the_pod_checks_are_left_out(deployed: Deployed) -> None:
    assert [line.split()[0:2] for line in deployed.left_out] == [
        ["docker", "build"], ["docker", "push"], ["kubectl", "-n"], ["kubectl", "-n"]]


async def test_the_deployment_runs_the_image_step_one_pushed(deployed: Deployed) -> None:
    build = next(line for block in deployed.section.install for line in block.splitlines()
                 if line.startswith("docker build"))
    tag = await asyncio.to_thread(deployed.shell.run, exports(deployed.section)
                                  + f"echo {build.split(' -t ', 1)[1].split()[0]}")
    image = tag.stdout.strip()
    assert image == "registry.example.com/platform/flow-approval-chatbot:0.1.0"
    assert image in deployed.output.splitlines()  # what step 7's first check printed
    apps = client.AppsV1Api(deployed.kube)
    deployment = await apps.read_namespaced_deployment(DEPLOYMENT, NAMESPACE)
    assert deployment.spec.template.spec.containers[0].image == image
    assert "ghcr.io/example" not in image


async def test_the_secret_is_there_and_the_pods_read_it(deployed: Deployed) -> None:
    secret = await client.CoreV1Api(deployed.kube).read_namespaced_secret(
        "flow-approval-chatbot", NAMESPACE)
    assert base64.b64decode(secret.data["slack-bot-token"]).decode() == "xoxb-your-bot-token"
    deployment = await client.AppsV1Api(deployed.kube).read_namespaced_deployment(
        DEPLOYMENT, NAMESPACE)
    env = {e.name: e for e in deployment.spec.template.spec.containers[0].env}
    token = env["CHATBOT_SLACK_BOT_TOKEN"].value_from.secret_key_ref
    assert (token.name, token.key) == ("flow-approval-chatbot", "slack-bot-token")
    assert env["CHATBOT_KAFKA_BOOTSTRAP"].value == "kafka-bootstrap.kafka.svc:9092"


async def test_the_service_account_may_do_what_the_sink_does(
        deployed: Deployed, kube_cluster: KubeCluster, slack_standin: SlackStandin,
        kafka_broker: KafkaBroker, new_topic: TopicFactory, tmp_path: Path) -> None:
    """``check-config --online`` as the chart's ServiceAccount — what step 7's last check
    runs inside the pod — finds the RBAC the chart installed enough, and not more."""
    kubeconfig = await asyncio.to_thread(kube_cluster.service_account_kubeconfig, NAMESPACE,
                                         DEPLOYMENT)
    rules = tmp_path / "rules.yaml"
    rules.write_text("channels: {default: flow-alerts}\n"
                     "approvers: [{namespaces: ['*'], users: [U0123ABCDE]}]\n")
    env = {**slack_standin.env(), "CHATBOT_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
           "CHATBOT_KAFKA_TOPIC": await new_topic(), "CHATBOT_KAFKA_DLQ_TOPIC": await new_topic(),
           "CHATBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
           "CHATBOT_KUBECONFIG": str(kubeconfig), "CHATBOT_CONFIG": str(rules),
           "PATH": "/usr/bin:/bin"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatbot.cli", "check-config", "--online", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, err.decode()
    assert ("ok: this identity may get, list, create, update, patch, watch "
            "clientintents.k8s.otterize.com in every namespace") in out.decode()


def helm_step(section: Section) -> str:
    """Step 6, the install command, as written."""
    return next(block for block in section.install if block.startswith("helm upgrade"))


async def test_an_install_without_approvers_fails_saying_how_to_give_them(
        deployed: Deployed) -> None:
    values = deployed.shell.workdir / "flow-approval-values.yaml"
    written = values.read_text()
    document: dict[str, Any] = yaml.safe_load(written)
    document["rules"]["approvers"] = []
    values.write_text(yaml.safe_dump(document))
    try:
        done = await asyncio.to_thread(deployed.shell.run, exports(deployed.section)
                                       + helm_step(deployed.section))
    finally:
        values.write_text(written)
    assert done.returncode != 0
    assert "rules.approvers is empty: nobody could approve any flow" in done.stderr
    assert "values file (README, Deploying to a cluster)" in done.stderr


async def test_an_install_without_the_image_fails_saying_which_to_give(
        deployed: Deployed) -> None:
    command = helm_step(deployed.section).replace(
        '--set image.repository="$REGISTRY/flow-approval-chatbot" ', "")
    done = await asyncio.to_thread(deployed.shell.run, exports(deployed.section) + command)
    assert done.returncode != 0
    assert "image.repository is required: the registry and name you pushed the image to" \
        in done.stderr


async def test_editing_the_rules_configmap_and_upgrading_rolls_the_pods(
        deployed: Deployed) -> None:
    apps = client.AppsV1Api(deployed.kube)
    script = exports(deployed.section) + deployed.section.configmap

    async def upgrade() -> tuple[str, int]:
        done = await asyncio.to_thread(deployed.shell.run, script)
        assert done.returncode == 0, done.stdout + done.stderr
        deployment = await apps.read_namespaced_deployment(DEPLOYMENT, NAMESPACE)
        checksum = deployment.spec.template.metadata.annotations["checksum/rules"]
        return checksum, deployment.metadata.generation

    first, generation = await upgrade()
    again, unchanged = await upgrade()  # the same rules: nothing rolls
    assert (again, unchanged) == (first, generation)
    # The operator edits rules.yaml (the block writes it afresh, so edit what it writes).
    script = script.replace("approvers:\n", "escalation: {pending_timeout: 1h}\napprovers:\n")
    edited, rolled = await upgrade()
    assert edited != first and rolled > generation
    configmap = await client.CoreV1Api(deployed.kube).read_namespaced_config_map(
        "flow-approval-rules", NAMESPACE)
    assert "pending_timeout: 1h" in configmap.data["rules.yaml"]
