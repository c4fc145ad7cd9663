"""The bench's Kafka: a real single-node KRaft broker (combined broker and controller) run from
Apache Kafka jars that Maven resolves into the bench cache. The bot's consumer, producer and
dead-letter code is tested against it; fault tests restart it mid-stream."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from testbench.paths import cache_dir, fresh_workdir
from testbench.process import (
    BenchError,
    Server,
    free_port,
    port_open,
    progress,
    run_checked,
    spawn,
    wait_until,
)

# The newest Kafka release aiokafka was verified against (tests/bench/test_kafka.py
# produces, consumes in a group and commits against it; 4.1.1 passed too).
KAFKA_VERSION = "4.4.0"
# Kafka 4.4 logs through slf4j 1.7, so it needs log4j's slf4j-1 binding.
LOG4J_VERSION = "2.24.3"

COMPONENT = "kafka"
READY_LINE = b"Kafka Server started"
# Kafka's own scripts default to a 1 GiB heap and G1; a test broker needs far less, and the
# serial collector and C1-only JIT start faster and stay smaller on a two-core machine.
JVM_OPTIONS = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

POM = f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>chatbot.bench</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""

LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.state.name = state.change.logger
logger.state.level = warn
"""


def install() -> Path:
    """Resolve the broker's jars into the cache once; returns the directory of jars."""
    home = cache_dir(COMPONENT, KAFKA_VERSION)
    libs = home / "libs"
    stamp = home / "installed"
    if stamp.exists():
        return libs
    # Several test sessions may start cold at once; one resolves, the others wait for it.
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():
            return libs
        progress(f"kafka: resolving Apache Kafka {KAFKA_VERSION} jars with Maven (first run)")
        started = time.monotonic()
        shutil.rmtree(libs, ignore_errors=True)
        pom = home / "pom.xml"
        pom.write_text(POM)
        run_checked(
            COMPONENT,
            ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
             "-DincludeScope=runtime", f"-DoutputDirectory={libs}"],
            log=home / "install.log",
            cwd=home,
        )
        if not (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
            raise BenchError(COMPONENT, f"Maven did not produce kafka_2.13-{KAFKA_VERSION}.jar",
                             home / "install.log")
        stamp.write_text(f"{KAFKA_VERSION}\n")
        jars = len(list(libs.glob("*.jar")))
        progress(f"kafka: {jars} jars in {libs} ({time.monotonic() - started:.0f}s)")
    return libs


def start() -> KafkaBroker:
    """Format a fresh data directory and start a broker on free ports."""
    libs = install()
    workdir = fresh_workdir(COMPONENT)
    broker = KafkaBroker(
        libs=libs,
        workdir=workdir,
        port=free_port(),
        controller_port=free_port(),
    )
    broker.configure()
    broker.launch()
    return broker


@dataclass
class KafkaBroker:
    """One running KRaft broker; `restart()` keeps its ports and its data."""

    libs: Path
    workdir: Path
    port: int
    controller_port: int
    server: Server | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log(self) -> Path:
        return self.workdir / "broker.log"

    def env(self) -> dict[str, str]:
        return {"CHATBOT_KAFKA_BOOTSTRAP": self.bootstrap}

    def describe(self) -> str:
        pid = self.server.pid if self.server else "stopped"
        return f"kafka {KAFKA_VERSION} at {self.bootstrap} (pid {pid}, log {self.log})"

    def configure(self) -> None:
        (self.workdir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        (self.workdir / "server.properties").write_text(self._properties())
        run_checked(
            COMPONENT,
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id(),
                       "-c", str(self.workdir / "server.properties")),
            log=self.log,
            cwd=self.workdir,
        )

    def launch(self, timeout: float = 120.0) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        self.server = spawn(
            COMPONENT,
            self._java("kafka.Kafka", str(self.workdir / "server.properties")),
            log=self.log,
            cwd=self.workdir,
        )

        def ready() -> bool:
            with self.log.open("rb") as out:
                out.seek(offset)
                started = READY_LINE in out.read()
            return started and port_open(self.port)

        wait_until(self.server, ready, what=f"serving on {self.bootstrap}", timeout=timeout)

    def stop(self) -> None:
        """Controlled shutdown; the data directory stays for `restart()` and post-mortems."""
        if self.server is not None:
            # Reap the JVM ourselves: Server.stop() polls the process group, in which an
            # exited but unreaped leader lingers as a zombie until the grace time runs out.
            self.server.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.server.process.wait(timeout=30.0)
            self.server.stop(grace=0.0)
            self.server = None

    def kill(self) -> None:
        """Crash the broker (SIGKILL, no controlled shutdown), for fault tests."""
        if self.server is not None:
            self.server.stop(grace=0.0)
            self.server = None

    def restart(self, *, crash: bool = False) -> None:
        """Stop (or crash) and start again on the same ports and data directory."""
        if crash:
            self.kill()
        else:
            self.stop()
        self.launch()

    async def create_topic(self, name: str, partitions: int = 1) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            response = await admin.create_topics(
                [NewTopic(name, num_partitions=partitions, replication_factor=1)]
            )
        except KafkaError as exc:
            raise BenchError(COMPONENT, f"creating topic {name!r} failed: {exc!r}") from exc
        finally:
            await admin.close()
        for topic, code, *rest in response.topic_errors:
            if code != 0:
                message = rest[0] if rest else ""
                raise BenchError(COMPONENT, f"creating topic {topic!r}: error {code} {message}")

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp", f"{self.libs}/*",
            main,
            *args,
        ]

    def _properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "5",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "background.threads": "2",
            # After a crash the restarted broker cannot re-register until its old session
            # expires (default 9 s); fault tests crash it on purpose, so keep that short.
            "broker.heartbeat.interval.ms": "1000",
            "broker.session.timeout.ms": "4000",
            # The default 128 MiB cleaner buffer would claim a quarter of the small heap.
            "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())


def cluster_id() -> str:
    """A random cluster id in Kafka's format (URL-safe base64 of 16 bytes, no padding)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text
