"""Starting and stopping the local services: Apache Kafka (KRaft) and redis-server.

No Docker on the target machines, so the project brings its services up itself: Kafka runs
with the machine's Java 17 from jars Maven resolves into infra/kafka/lib, Redis from Debian's
redis-server. Used by `creditsync up/down` and by the test fixtures (which pass their own
ports and directories). Every process is tracked by its pid file and stopped by that pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from creditsync.errors import MissingPrerequisite, ServiceUnavailable
from schemas.kafka.config import KafkaSettings, client_config

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_INFRA = REPO_ROOT / "infra" / "kafka"
KAFKA_LIB = KAFKA_INFRA / "lib"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(program: str, hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise MissingPrerequisite(f"{program} not found on PATH: {hint}")
    return path


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll `check` until it is true; fail early if the process we started has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise ServiceUnavailable(f"{what} exited with code {proc.returncode} while starting")
        time.sleep(0.1)
    raise ServiceUnavailable(f"{what} did not answer within {timeout:.0f}s")


@dataclass
class ManagedProcess:
    """A service process we started: its pid file is the only handle used to stop it."""

    name: str
    pid_file: Path
    log_file: Path
    # Set when this process started it: reaped through it (no zombie, no ResourceWarning).
    process: subprocess.Popen | None = None

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGTERM by pid, SIGKILL after `timeout`; True if something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout)
        self.pid_file.unlink(missing_ok=True)
        return True


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier `creditsync up`): fall back to kill 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _spawn(cmd: list[str], log_file: Path, pid_file: Path, cwd: Path | None = None):
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        # A new session so a Ctrl-C in the terminal that ran `creditsync up` does not
        # reach the services; they are stopped by pid with `creditsync down`.
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )
    pid_file.write_text(str(proc.pid))
    return proc


# --- Redis -----------------------------------------------------------------------------


def start_redis(
    data_dir: Path, port: int, timeout: float = 15.0, extra: tuple[str, ...] = ()
) -> ManagedProcess:
    exe = require("redis-server", "install it with `apt-get install -y redis-server`")
    data_dir.mkdir(parents=True, exist_ok=True)
    managed = ManagedProcess("redis", data_dir / "redis.pid", data_dir / "redis.log")
    if managed.pid() is not None:
        return managed
    cmd = [
        exe,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        # Append-only file: the publicity index survives a restart; it can also be
        # rebuilt from credit.records at any time (`creditsync replay --target publicity`).
        "--appendonly",
        "yes",
        "--save",
        "",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        *extra,
    ]
    proc = _spawn(cmd, managed.log_file, managed.pid_file)
    managed.process = proc
    wait_until(lambda: port_open("127.0.0.1", port), timeout, "redis-server", proc)
    return managed


def start_redis_cluster(
    data_dir: Path, ports: list[int], timeout: float = 30.0
) -> list[ManagedProcess]:
    """A Redis Cluster of `len(ports)` masters, no replicas (tests, issue #18): one
    redis-server per port with its own directory and nodes file, joined by
    `redis-cli --cluster create`; returns once CLUSTER INFO says cluster_state:ok. Stop each
    returned process by its pid; on a failure to start, those started are stopped here."""
    cli = require("redis-cli", "install it with `apt-get install -y redis-tools`")
    started: list[ManagedProcess] = []
    try:
        for port in ports:
            flags = ("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf")
            started.append(start_redis(data_dir / str(port), port, timeout, extra=flags))
        nodes = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=timeout,
        )

        def cluster_ok() -> bool:
            for port in ports:
                info = subprocess.run(
                    [cli, "-p", str(port), "cluster", "info"],
                    capture_output=True, text=True, timeout=timeout, check=False,
                )  # fmt: skip
                if "cluster_state:ok" not in info.stdout:
                    return False
            return True

        wait_until(cluster_ok, timeout, "redis cluster")
    except BaseException:
        for managed in started:
            managed.stop()
        raise
    return started


# --- Kafka -----------------------------------------------------------------------------


def ensure_kafka_jars() -> Path:
    """Resolve the broker jars from Maven Central once (infra/kafka/pom.xml)."""
    if KAFKA_LIB.is_dir() and any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
        return KAFKA_LIB
    mvn = require("mvn", "install Maven with `apt-get install -y maven`")
    subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(KAFKA_INFRA / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={KAFKA_LIB}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    return KAFKA_LIB


def kafka_properties(data_dir: Path, port: int, controller_port: int) -> str:
    return (
        (KAFKA_INFRA / "server.properties")
        .read_text()
        .format(
            log_dirs=data_dir / "kraft-logs",
            port=port,
            controller_port=controller_port,
        )
    )


def _java_cmd(main_class: str, data_dir: Path) -> list[str]:
    java = require("java", "install Java 17 with `apt-get install -y openjdk-17-jre-headless`")
    return [
        java,
        "-Xms256m",
        "-Xmx1g",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={KAFKA_INFRA / 'log4j2.yaml'}",
        f"-Dkafka.logs.dir={data_dir / 'logs'}",
        "-cp",
        f"{ensure_kafka_jars()}/*",
        main_class,
    ]


def start_kafka(
    data_dir: Path,
    port: int,
    controller_port: int,
    timeout: float = 90.0,
    extra_properties: str = "",
) -> ManagedProcess:
    """Format KRaft storage when new, start the broker, wait until it answers on its
    PLAINTEXT port. `extra_properties` are appended (a later key overrides an earlier one:
    e.g. a SASL listener beside the PLAINTEXT one)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    managed = ManagedProcess("kafka", data_dir / "kafka.pid", data_dir / "kafka.log")
    if managed.pid() is not None:
        return managed
    config = data_dir / "server.properties"
    config.write_text(kafka_properties(data_dir, port, controller_port) + extra_properties)
    if not (data_dir / "kraft-logs" / "meta.properties").exists():
        cluster_id = data_dir / "cluster.id"
        if not cluster_id.exists():
            cluster_id.write_text(new_cluster_id())
        subprocess.run(
            [
                *_java_cmd("kafka.tools.StorageTool", data_dir),
                "format",
                "-t",
                cluster_id.read_text().strip(),
                "-c",
                str(config),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    proc = _spawn(
        [*_java_cmd("kafka.Kafka", data_dir), str(config)], managed.log_file, managed.pid_file
    )
    managed.process = proc
    # The broker started here listens in PLAINTEXT (kafka_properties), whatever the settings.
    local = KafkaSettings(kafka_bootstrap=f"127.0.0.1:{port}", kafka_security_protocol="PLAINTEXT")
    wait_until(lambda: _kafka_answers(local), timeout, "Kafka broker", proc)
    return managed


def new_cluster_id() -> str:
    """A Kafka cluster id: 22-char url-safe base64 of a UUID, never starting with '-' (the
    storage tool would read it as an option; Kafka's own Uuid.randomUuid skips those too)."""
    import base64

    while True:
        raw = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not raw.startswith("-"):
            return raw


def _kafka_answers(kafka: KafkaSettings) -> bool:
    from confluent_kafka.admin import AdminClient

    host, _, port = kafka.kafka_bootstrap.rpartition(":")
    if not port_open(host, int(port)):
        return False  # asking librdkafka before the port opens only fills the log
    try:
        AdminClient(client_config(kafka)).list_topics(timeout=1.0)
        return True
    except Exception:
        return False
