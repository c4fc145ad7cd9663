"""Stories of ``chatbot demo`` as a newcomer runs it: the console script replays the bundled
samples into SQLite, serves the page until Ctrl-C, and can be run again on the same folder."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from pathlib import Path

import aiohttp

from chatbot.demo import SAMPLES
from chatbot.events.parse import parse_event
from tests.review.demo_process import demo_command, free_port, running_demo


async def run(command: list[str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    async with asyncio.timeout(120):
        output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


def stored_anomalies(workdir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(workdir / "chatbot.db") as database:
        return database.execute("SELECT client_name, state FROM anomalies").fetchall()


def test_the_samples_are_clean_schema_v1_lines_with_repeats() -> None:
    events = [parse_event(line) for line in SAMPLES.read_bytes().splitlines()]

    assert 40 <= len(events) <= 80
    assert len({event.event_id for event in events}) < len(events)  # redeliveries included
    namespaces = {event.client.namespace for event in events}
    assert "rps" in namespaces
    assert any(getattr(event.target, "namespace", "").startswith("pci-") for event in events)
    assert any(event.severity == "critical" for event in events)


async def test_replaying_the_samples_stores_the_anomalies_and_a_rerun_is_a_no_op(
        tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    port = free_port()

    code, output = await run(demo_command(workdir, port, "--exit-after-replay"))

    assert code == 0, output
    assert "replaying 56 sample events… 56/56, 23 anomalies (23 new" in output
    assert f"review page:   http://127.0.0.1:{port}/" in output
    assert f"{workdir.resolve() / 'intents'}/<workload>.<namespace>.yaml" in output
    assert len(stored_anomalies(workdir)) == 23
    # critical and compliance flows are in the war room before anyone looks
    assert "war room:      3 flows escalated (critical, or in pci-*)" in output
    assert sorted(name for name, state in stored_anomalies(workdir) if state == "escalated") \
        == ["matchmaker", "netshoot-debug", "stats"]
    assert {state for _, state in stored_anomalies(workdir)} == {"pending", "escalated"}

    code, output = await run(demo_command(workdir, port, "--exit-after-replay"))

    assert code == 0, output
    assert "56/56, 23 anomalies (0 new; 56 already-seen event ids ignored)" in output
    assert len(stored_anomalies(workdir)) == 23


async def test_the_demo_serves_its_page_until_ctrl_c_and_then_exits_cleanly(
        tmp_path: Path) -> None:
    started = time.monotonic()
    async with running_demo(tmp_path / "demo", free_port()) as demo:
        async with aiohttp.ClientSession() as http, http.get(demo.url + "api/anomalies") as got:
            listed = await got.json()
        ready = time.monotonic() - started
        assert listed["total"] == 23
        assert ready < 30, f"the page took {ready:.1f}s to list the anomalies"

        assert await demo.interrupt() == 0, "\n".join(demo.output)
    assert any(line.startswith("demo stopped") for line in demo.output), demo.output


async def test_a_taken_port_is_reported_instead_of_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, output = await run(demo_command(tmp_path / "demo", taken.getsockname()[1],
                                              "--exit-after-replay"))

    assert code == 1
    assert "pick another with --port" in output
    assert "Traceback" not in output


async def test_with_host_the_page_answers_at_the_address_it_was_reached_on_and_nowhere_else(
        tmp_path: Path) -> None:
    """``--host 0.0.0.0`` lets a browser outside the container reach the page at this
    machine's address; a DNS-rebinding page (its own host name in Host) is still refused,
    and ``--allow-host`` names a port-mapped address."""
    port = free_port()
    async with running_demo(tmp_path / "demo", port, "--host", "0.0.0.0",  # noqa: S104
                            "--allow-host", "localhost:18080") as demo:
        # 127.0.0.2 is not one of the loopback *names*: it passes only because it is the
        # address the connection arrived on, like a VM's or a container's own IP would.
        url = f"http://127.0.0.2:{port}/api/anomalies"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as direct:
                assert direct.status == 200
            async with http.get(url, headers={"Host": f"rebound.example:{port}"}) as rebound:
                assert rebound.status == 421
            async with http.get(url, headers={"Host": "localhost:18080"}) as mapped:
                assert mapped.status == 200
        assert await demo.interrupt() == 0, "\n".join(demo.output)
    assert "listening on every interface" in "\n".join(demo.output)


async def test_an_unusable_output_folder_is_refused_at_start(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    workdir.mkdir()
    (workdir / "intents").write_text("a file where the ClientIntents folder should be")
    code, output = await run(demo_command(workdir, free_port(), "--exit-after-replay"))

    assert code == 2, output
    assert f"cannot write to {workdir / 'intents'}" in output and "--workdir" in output
    assert "Traceback" not in output
    assert not (workdir / "chatbot.db").exists()
