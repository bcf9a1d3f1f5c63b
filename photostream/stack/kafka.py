"""The local Apache Kafka: one KRaft node that is both broker and controller, on 127.0.0.1.

The jars come from Maven Central through ``scripts/kafka/pom.xml`` (no tarball download, same route as the
other Java services), and the process runs ``kafka.Kafka`` straight from ``lib/*`` so nothing but Java 17 and
Maven is needed on the machine.

Broker metrics: the Prometheus JMX exporter java agent (Maven Central ``io.prometheus.jmx:
jmx_prometheus_javaagent``, fetched by the same pom into its own folder) runs inside the broker's JVM and serves
``/metrics`` on ``KAFKA_JMX_EXPORTER_PORT``; :data:`JMX_EXPORTER_YAML` picks the MBeans worth a series.

The ``KAFKA_BROKERS=N`` profile (``photostream stack up --kafka-brokers 3``) runs N such combined nodes instead
(:class:`KafkaNode`, all N KRaft voters) on the ``KAFKA_CLUSTER_*`` ports, with replication factor 3 and
``min.insync.replicas`` 2, so one node can be killed without losing an acknowledged record; the single node
above stays the default (the suite and the demo use it).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from confluent_kafka.admin import AdminClient

from photostream.contracts.catalog import OFFSETS_RETENTION_MINUTES
from photostream.settings import KAFKA_NODE_PORT_STRIDE, PROJECT_ROOT, Settings
from photostream.stack.base import Service, StackError, run_checked
from photostream.stack.maven import collect_runtime_jars, java_binary

POM = PROJECT_ROOT / "scripts" / "kafka" / "pom.xml"
#: the one node's id; the static voter list names it
NODE_ID = 1

# Quiet by default: warnings and errors, plus the version and "Kafka Server started" lines so the log says
# what ran. Kafka 4.x logs through log4j2, configured here instead of its bundled log4j2.yaml.
LOG4J2_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="org.apache.kafka.common.utils.AppInfoParser" level="INFO"/>
    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
    <Root level="WARN">
      <AppenderRef ref="STDOUT"/>
    </Root>
  </Loggers>
</Configuration>
"""


# What the broker's JMX exporter turns into series: throughput and failed requests per topic, produce and fetch
# latency quantiles, replication health, controller state, and the JVM (the agent adds jvm_* itself).
# Only these MBeans are read. A scrape runs in one burst on a broker thread, and its cost grows with the MBeans
# walked: the earlier wildcards (every request type's timers, every per-topic meter, and a log size for each of
# the hundreds of partitions) cost 82 ms of broker CPU per scrape, a 5 s heartbeat of one core's worth of stall
# on this 2-core machine that showed in the API's tail latency. These names cost 8 ms. Per-partition disk use
# is what ``kafka-log-dirs.sh --describe`` is for.
JMX_EXPORTER_YAML = """\
lowercaseOutputName: true
lowercaseOutputLabelNames: true
includeObjectNames:
  - "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,*"
  - "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,*"
  - "kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,*"
  - "kafka.server:type=BrokerTopicMetrics,name=FailedProduceRequestsPerSec,*"
  - "kafka.server:type=BrokerTopicMetrics,name=FailedFetchRequestsPerSec,*"
  - "kafka.server:type=ReplicaManager,*"
  - "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent"
  - "kafka.controller:type=KafkaController,*"
  - "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce"
  - "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=FetchConsumer"
  - "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=FetchFollower"
  - "kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent"
rules:
  - pattern: 'kafka.server<type=BrokerTopicMetrics, name=(.+), topic=(.+)><>Count'
    name: kafka_server_brokertopicmetrics_$1_total
    type: COUNTER
    labels:
      topic: "$2"
  - pattern: 'kafka.server<type=BrokerTopicMetrics, name=(.+)><>Count'
    name: kafka_server_brokertopicmetrics_$1_total
    type: COUNTER
  - pattern: 'kafka.server<type=ReplicaManager, name=(.+)><>(Value|Count)'
    name: kafka_server_replicamanager_$1
    type: GAUGE
  - pattern: 'kafka.server<type=KafkaRequestHandlerPool, name=RequestHandlerAvgIdlePercent><>OneMinuteRate'
    name: kafka_server_request_handler_avg_idle_ratio
    type: GAUGE
  - pattern: 'kafka.controller<type=KafkaController, name=(.+)><>Value'
    name: kafka_controller_kafkacontroller_$1
    type: GAUGE
  - pattern: 'kafka.network<type=RequestMetrics, name=TotalTimeMs, request=(Produce|Fetch\\w*)><>(\\d+)thPercentile'
    name: kafka_network_request_total_time_ms
    type: GAUGE
    labels:
      request: "$1"
      quantile: "0.$2"
  - pattern: 'kafka.network<type=SocketServer, name=NetworkProcessorAvgIdlePercent><>Value'
    name: kafka_network_processor_avg_idle_ratio
    type: GAUGE
"""


class KafkaService(Service):
    """Single-node Kafka in KRaft mode with replication factors of 1 and fast group joins for development."""

    name = "kafka"
    start_timeout_s = 60.0

    @property
    def client_port(self) -> int:
        return self.settings.kafka_port

    @property
    def controller_port(self) -> int:
        return self.settings.kafka_controller_port

    @property
    def jmx_exporter_port(self) -> int:
        return self.settings.kafka_jmx_exporter_port

    @property
    def heap(self) -> str:
        return self.settings.kafka_heap

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    @property
    def log_dir(self) -> Path:
        """Kafka's data (topic partitions and the KRaft metadata log), not its text log."""
        return self.data_dir / "kraft"

    @property
    def server_properties(self) -> Path:
        return self.conf_dir / "server.properties"

    @property
    def log4j2_file(self) -> Path:
        return self.conf_dir / "log4j2.xml"

    @property
    def jmx_exporter_home(self) -> Path:
        return self.home / "jmx-exporter"

    @property
    def jmx_exporter_jar(self) -> Path:
        return self.jmx_exporter_home / "lib" / f"jmx_prometheus_javaagent-{self.settings.jmx_exporter_version}.jar"

    @property
    def jmx_exporter_config(self) -> Path:
        return self.conf_dir / "jmx-exporter.yaml"

    @property
    def metrics_address(self) -> str:
        """Where the broker's JMX exporter serves ``/metrics``."""
        return f"127.0.0.1:{self.jmx_exporter_port}"

    # --- install / configure ------------------------------------------------------------------------
    def install(self) -> None:
        """Fetch the Kafka runtime jars once (re-fetched only when ``kafka_version`` changes)."""
        collect_runtime_jars(POM, self.home, {"kafka.version": self.settings.kafka_version})
        # its own folder (and marker): the agent is a fat jar that must not join Kafka's classpath
        collect_runtime_jars(POM, self.jmx_exporter_home, {
            "jmx.exporter.version": self.settings.jmx_exporter_version,
            "includeArtifactIds": "jmx_prometheus_javaagent",
        })

    def server_config(self) -> dict[str, str]:
        """Broker+controller settings for one node; replication factors of 1 because there is one broker."""
        s = self.settings
        return {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            # static voters work on 3.9 and 4.x alike and need no --standalone at format time
            "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.client_port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.client_port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # consumers join at once instead of waiting 3 s for more members
            "group.initial.rebalance.delay.ms": "0",
            # dlq redrive's place in a DLQ lives as long as the DLQ's records (the default kept it 7 days)
            "offsets.retention.minutes": str(OFFSETS_RETENTION_MINUTES),
            "num.network.threads": "2",
            "num.io.threads": "2",
            # topics are declared by the apps (with their partition counts), never created by a typo
            "auto.create.topics.enable": "false",
        }

    def prepare(self) -> None:
        """Write the configs (every start, so settings changes apply) and format the storage only once."""
        self._refuse_busy_ports()
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        body = "".join(f"{key}={value}\n" for key, value in self.server_config().items())
        self.server_properties.write_text("# written by photostream stack; edits are overwritten\n" + body)
        self.log4j2_file.write_text(LOG4J2_XML)
        self.jmx_exporter_config.write_text(JMX_EXPORTER_YAML)
        if (self.log_dir / "meta.properties").exists():
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = self.cluster_id()
        run_checked(
            self._java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.server_properties)
            )
        )
        if not (self.log_dir / "meta.properties").exists():
            raise StackError(f"formatting Kafka storage left no meta.properties in {self.log_dir}")

    def cluster_id(self) -> str:
        """A fresh id for formatting this node's storage."""
        uuid_out = run_checked(self._java("kafka.tools.StorageTool", "random-uuid"))
        return uuid_out.strip().splitlines()[-1]

    def _refuse_busy_ports(self) -> None:
        """Fail clearly instead of with a bind error buried in the log (or a foreign broker's health)."""
        for port in (self.client_port, self.controller_port, self.jmx_exporter_port):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    raise StackError(f"port {port} on 127.0.0.1 is already in use; is Kafka already running?")

    def _java(self, main_class: str, *args: str, jvm: Sequence[str] = ()) -> list[str]:
        """A java command on the collected jars; absolute paths keep ``pid()``'s ownership check working."""
        if not any(self.lib.glob("*.jar")):
            raise StackError(f"no Kafka jars in {self.lib}; run install first")
        return [
            java_binary(),
            *jvm,
            f"-Dlog4j2.configurationFile={self.log4j2_file}",
            "-cp",
            f"{self.lib}/*",
            main_class,
            *args,
        ]

    # --- run ----------------------------------------------------------------------------------------
    def command(self) -> Sequence[str]:
        heap = self.heap
        jvm = [
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-javaagent:{self.jmx_exporter_jar}={self.metrics_address}:{self.jmx_exporter_config}",
        ]
        return self._java("kafka.Kafka", str(self.server_properties), jvm=jvm)

    def installed_version(self) -> str:
        """The version of the jars in ``lib`` (the protocol does not report the broker's release)."""
        for jar in self.lib.glob("kafka_2.13-*.jar"):
            return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
        return self.settings.kafka_version

    def _require_reachable(self) -> None:
        """Fail in milliseconds when no bootstrap server accepts TCP (librdkafka would wait its timeout)."""
        errors: list[str] = []
        for server in self.settings.kafka_bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                socket.create_connection((host.strip("[]"), int(port)), timeout=1.0).close()
                return
            except (OSError, ValueError) as exc:
                errors.append(f"{server.strip()}: {exc}")
        raise StackError("no Kafka bootstrap server reachable: " + "; ".join(errors))

    def check_health(self) -> str:
        """A real metadata round-trip that must list at least one broker; returns the Kafka version."""
        self._require_reachable()
        admin = AdminClient(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap_servers,
                "socket.timeout.ms": 2000,
                "socket.connection.setup.timeout.ms": 2000,
                "reconnect.backoff.max.ms": 500,
                # connection-refused noise while the broker starts is expected; failures surface as exceptions
                "log_level": 0,
            }
        )
        metadata = admin.list_topics(timeout=3)
        if not metadata.brokers:
            raise StackError(f"Kafka at {self.settings.kafka_bootstrap_servers} answered with no brokers")
        return self.installed_version()


class KafkaNode(KafkaService):
    """Node ``node_id`` (1..N) of the ``KAFKA_BROKERS=N`` profile: broker and controller, one of N voters.

    Each node has its own ports (the ``KAFKA_CLUSTER_*`` ports plus 100 per node), data, config, log and pid
    file; the jars are shared (``opt/kafka``). Every node is formatted with the one cluster id kept in the
    stack's config folder, since nodes formatted with different ids refuse each other.
    """

    start_timeout_s = 120.0  # three JVMs starting at once on a small machine

    def __init__(self, settings: Settings, node_id: int) -> None:
        self.node_id = node_id
        self.name = f"kafka-{node_id}"
        super().__init__(settings)
        self.home = self.root / "opt" / "kafka"  # one copy of the jars for every node

    def _port(self, base: int) -> int:
        return base + KAFKA_NODE_PORT_STRIDE * (self.node_id - 1)

    @property
    def client_port(self) -> int:
        return self._port(self.settings.kafka_cluster_port)

    @property
    def controller_port(self) -> int:
        return self._port(self.settings.kafka_cluster_controller_port)

    @property
    def jmx_exporter_port(self) -> int:
        return self._port(self.settings.kafka_cluster_jmx_exporter_port)

    @property
    def heap(self) -> str:
        return self.settings.kafka_cluster_heap

    def owns(self, cmdline: bytes) -> bool:
        """Ours only if it runs this node's config: every node shares ``home`` (the jars) and ``root``."""
        return str(self.server_properties).encode() in cmdline

    def install(self) -> None:
        """The nodes install in parallel into one folder: one at a time, the others then find it done."""
        with _file_lock(self.root / "opt" / "kafka.install.lock"):
            super().install()

    def server_config(self) -> dict[str, str]:
        """The single node's settings, with N voters and the cluster's replication: 3 copies of every partition
        (internal topics too) and acks=all needing 2 of them, so one node may die without losing a record."""
        s = self.settings
        replication = min(3, s.kafka_brokers)
        min_isr = str(max(1, replication - 1))
        voters = ",".join(
            f"{node.node_id}@127.0.0.1:{node.controller_port}" for node in cluster_nodes(s)
        )
        return {
            **super().server_config(),
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            "default.replication.factor": str(replication),
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": str(replication),
            "transaction.state.log.replication.factor": str(replication),
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": str(replication),
            "share.coordinator.state.topic.min.isr": min_isr,
            # never elect a replica that missed acknowledged records (Kafka's default, stated because it is
            # what "0 lost" rests on)
            "unclean.leader.election.enable": "false",
            # a killed node is fenced (its partitions get new leaders, acks=all stops waiting for it) after 4 s
            # without a heartbeat instead of Kafka's 9 s: the whole failover must fit in PUBLISH_TIMEOUT_S, or
            # records time out and the idempotent producer's epoch bump re-sends batches already written
            "broker.heartbeat.interval.ms": "1000",
            "broker.session.timeout.ms": "4000",
        }

    def cluster_id(self) -> str:
        """The one id every node is formatted with: made by the first node to format, read by the others."""
        path = self.root / "conf" / "kafka-cluster.id"
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(path.with_suffix(".lock")):
            if not path.exists():
                # what Kafka's Uuid.randomUuid().toString() gives: 16 random bytes, url-safe base64, unpadded
                path.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())
            return path.read_text().strip()

    def check_health(self) -> str:
        """This node answers metadata and lists itself among the brokers (registered with the quorum, unfenced)."""
        with socket.create_connection(("127.0.0.1", self.client_port), timeout=1.0):
            pass
        admin = AdminClient(
            {
                "bootstrap.servers": self.address,
                "socket.timeout.ms": 2000,
                "socket.connection.setup.timeout.ms": 2000,
                "reconnect.backoff.max.ms": 500,
                "log_level": 0,
            }
        )
        metadata = admin.list_topics(timeout=3)
        if self.node_id not in metadata.brokers:
            raise StackError(f"{self.name} at {self.address} is not (yet) a registered broker")
        return self.installed_version()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between threads and processes (each call opens its own file description)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cluster_nodes(settings: Settings) -> list[KafkaNode]:
    """The N nodes of the ``KAFKA_BROKERS=N`` profile (for any N, e.g. to write one node's voter list)."""
    return [KafkaNode(settings, node_id) for node_id in range(1, settings.kafka_brokers + 1)]


def kafka_services(settings: Settings) -> list[KafkaService]:
    """What the stack runs for Kafka: the single node by default, the N nodes with ``KAFKA_BROKERS=N``."""
    if settings.kafka_brokers == 1:
        return [KafkaService(settings)]
    return list(cluster_nodes(settings))


def up(settings: Settings, report: Callable[[str], None]) -> list[KafkaService]:
    """Only Kafka (``photostream stack up --only kafka``): install, start every node, wait until each is a
    registered broker, create the catalog's topics. Lets a second Kafka (another ``STACK_DIR`` and profile) run
    beside a running stack without touching it."""
    from photostream.topics_admin import ensure_topics

    nodes = kafka_services(settings)
    for node in nodes:
        node.install()
    for node in nodes:  # all before waiting: a node is healthy only once a quorum of voters runs
        if node.health() is None:
            node.start()
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        for node, version in zip(nodes, pool.map(lambda n: n.wait_healthy(), nodes), strict=True):
            report(f"{node.name} healthy at {node.address} (Kafka {version})")
    created = ensure_topics(settings)
    report(f"topics created: {len(created)} (replication factor {settings.kafka_replication_factor})")
    return nodes
