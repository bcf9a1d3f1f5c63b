"""One Apache Cassandra 5.0 node on 127.0.0.1, run from its Maven jars with Java 17.

There is no tarball and no ``bin/cassandra`` script here: the jars come from Maven (``scripts/cassandra/
pom.xml``) and this module builds the JVM command line that ``cassandra-env.sh`` and
``jvm17-server.options`` would have produced, minus what only matters on big production machines. The
configuration is a small single-node ``cassandra.yaml`` tuned for start-up time on a 2-core machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from photostream.settings import PROJECT_ROOT, Settings
from photostream.stack.base import Service, StackError
from photostream.stack.maven import collect_runtime_jars, java_binary

POM = PROJECT_ROOT / "scripts" / "cassandra" / "pom.xml"

#: JMX listens on loopback only, away from the stock 7199 so it cannot clash with another Cassandra.
JMX_PORT = 17199

#: What Cassandra would measure at start-up (1.3 s of CPU: 100k rows into a skip list) for a compressed-oops
#: heap; it only sizes memtable accounting, so the measured value is given instead.
MEMTABLE_ROW_OVERHEAD = 180

#: A dynamic CDS archive is made while the jamm agent is loaded; the JVM wants that allowed explicitly on
#: both the dumping and the using side (jamm only measures objects, it never transforms classes).
CDS_AGENT_FLAGS: tuple[str, ...] = ("-XX:+UnlockDiagnosticVMOptions", "-XX:+AllowArchivingWithJavaAgent")

#: Module access Cassandra needs on Java 17 (its own conf/jvm17-server.options, JPMS section).
JVM17_MODULE_FLAGS: tuple[str, ...] = (
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
)

LOGBACK_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by photostream: INFO to {logdir}/system.log, only warnings to the console (the stack log). -->
<!-- No shutdownHook: Cassandra stops logging itself at the end of its drain, so shutdown is logged too. -->
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>{logdir}/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>{logdir}/system.log.%i.zip</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>3</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>20MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter">
      <level>WARN</level>
    </filter>
    <encoder>
      <pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="FILE"/>
    <appender-ref ref="STDOUT"/>
  </root>
  <logger name="org.apache.cassandra" level="INFO"/>
</configuration>
"""


CAP_SETPCAP = 1 << 8
CAP_IPC_LOCK = 1 << 14


def _effective_caps() -> int:
    """This process's effective capability bits (0 where /proc is unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


class CassandraService(Service):
    """A single Cassandra node (one token, SimpleSnitch) whose data lives under ``.stack/data/cassandra``."""

    name = "cassandra"
    #: measured 3-8 s on 2 cores; the margin is for a first start on a machine busy starting everything else
    start_timeout_s = 150.0

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.lib_dir = self.home / "lib"
        self.log_dir = self.log_file.parent / self.name
        self.yaml_file = self.conf_dir / "cassandra.yaml"
        self.logback_file = self.conf_dir / "logback.xml"
        #: class-data archive of Cassandra's ~9k classes, written when the first run exits
        self.cds_archive = self.home / "classes.jsa"

    @property
    def address(self) -> str:
        return f"{self.settings.cassandra_contact_points[0]}:{self.settings.cassandra_port}"

    def install(self) -> None:
        """Collect cassandra-all and its runtime closure into ``home/lib`` (skipped when already there)."""
        collect_runtime_jars(POM, self.home, {"cassandra.version": self.settings.cassandra_version})

    def prepare(self) -> None:
        """Rewrite the config on every start so a settings change (ports, folders) always takes effect."""
        for sub in ("data", "commitlog", "saved_caches", "hints", "cdc_raw"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "triggers").mkdir(parents=True, exist_ok=True)
        self.yaml_file.write_text(self.render_yaml())
        self.logback_file.write_text(LOGBACK_XML.format(logdir=self.log_dir))

    def render_yaml(self) -> str:
        """A one-node config: loopback only, small memory, features a dev stack never uses turned off."""
        d = self.data_dir
        s = self.settings
        return f"""# Written by photostream (photostream/stack/cassandra.py) on every start; edits are lost.
cluster_name: photostream-local
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
auto_bootstrap: false
endpoint_snitch: SimpleSnitch
dynamic_snitch: false
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:{s.cassandra_storage_port}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: {s.cassandra_storage_port}
ssl_storage_port: {s.cassandra_storage_port + 1}
native_transport_port: {s.cassandra_port}
start_native_transport: true

data_file_directories:
  - {d / "data"}
commitlog_directory: {d / "commitlog"}
saved_caches_directory: {d / "saved_caches"}
hints_directory: {d / "hints"}
cdc_raw_directory: {d / "cdc_raw"}

commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 32MiB
# Cassandra 5's own recommendation (its cassandra_latest.yaml): trie memtables, cells kept off the heap. With a
# quarter of the heap for memtables (its default share) a benchmark's burst flushes rarely: 64 MiB flushed a
# table every ~17k rows and kept a core compacting. Measured (one row per partition, the unread badge's by-sender
# rows): 26-30k -> 41-52k upserts/s; unread applied p50 at 5,000 events/s 481 -> 200 ms.
memtable_heap_space: 512MiB
memtable_offheap_space: 512MiB
memtable_allocation_type: offheap_objects
memtable:
  configurations:
    skiplist:
      class_name: SkipListMemtable
    trie:
      class_name: TrieMemtable
    default:
      inherits: trie
concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 2
concurrent_materialized_view_writes: 2
concurrent_compactors: 1
compaction_throughput: 64MiB/s
auto_snapshot: false
# A hashtag tally writes a tag's whole batch of changes as one single-partition batch (atomic); allow big ones.
batch_size_warn_threshold: 256KiB
batch_size_fail_threshold: 16MiB
# Order-free idempotent writes go out as UNLOGGED batches of up to 50 rows over many partitions on purpose (one
# request instead of 50: sinks.cassandra.execute_grouped); the default threshold (10) logged a warning for
# nearly every such batch, on the server and again in every client.
unlogged_batch_across_partitions_warn_threshold: 100
snapshot_before_compaction: false
key_cache_size: 16MiB
counter_cache_size: 4MiB

authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
network_authorizer: AllowAllNetworkAuthorizer

hinted_handoff_enabled: false
materialized_views_enabled: false
sasi_indexes_enabled: false
transient_replication_enabled: false
drop_compact_storage_enabled: false
"""

    def jvm_flags(self) -> list[str]:
        """Heap, GC and module flags: the stock option files, sized for a laptop instead of a server.

        G1 aims at 20 ms pauses, not the stock 300 ms: with 300 its young collections of a ~1.2 GB eden took
        60-160 ms under the unread badge's benchmark, and every read and write waits out a pause. With 20 the
        same run had more, shorter pauses (none above 50 ms after start-up, about the same total) and the
        measured upsert ceiling did not drop (25k vs 22-23k rows/s on the same day). ``gc.log`` (beside
        ``system.log``) records every pause for whoever wants to check."""
        heap = self.settings.cassandra_heap
        return [
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-Xss256k",
            "-XX:+UseG1GC",
            "-XX:+ParallelRefProcEnabled",
            "-XX:MaxTenuringThreshold=1",
            "-XX:G1HeapRegionSize=16m",
            "-XX:G1RSetUpdatingPauseTimePercent=5",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=70",
            "-XX:+UseThreadPriorities",
            "-XX:+PerfDisableSharedMem",
            "-XX:+HeapDumpOnOutOfMemoryError",
            "-XX:+ExitOnOutOfMemoryError",
            f"-XX:HeapDumpPath={self.log_dir}",
            f"-XX:ErrorFile={self.log_dir}/hs_err_%p.log",
            f"-Xlog:gc:file={self.log_dir}/gc.log:time,uptime:filecount=5,filesize=10m",
            "-ea",
            "-da:net.openhft...",
            *JVM17_MODULE_FLAGS,
            "-Djdk.attach.allowAttachSelf=true",
            "-Dio.netty.tryReflectionSetAccessible=true",
            "-Dio.netty.allocator.useCacheForAllThreads=true",
            "-Dio.netty.allocator.maxOrder=11",
            "-Djava.net.preferIPv4Stack=true",
        ]

    def cassandra_properties(self) -> list[str]:
        """System properties: where things are, and the single-node shortcuts that skip cluster waits."""
        return [
            f"-Dcassandra.config={self.yaml_file.resolve().as_uri()}",
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.storagedir={self.data_dir}",
            f"-Dcassandra.logdir={self.log_dir}",
            f"-Dlogback.configurationFile={self.logback_file}",
            f"-Dcassandra.triggers_dir={self.conf_dir / 'triggers'}",
            f"-Dcassandra.jmx.local.port={JMX_PORT}",
            "-Djava.rmi.server.hostname=127.0.0.1",
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-Dcassandra.ring_delay_ms=100",
            "-Dcassandra.load_ring_state=false",
            "-Dcassandra.initial_token=0",
            "-Dcassandra.superuser_setup_delay_ms=0",
            f"-Dcassandra.memtable.row_overhead_size={MEMTABLE_ROW_OVERHEAD}",
            "-Dcassandra.shutdown_announce_in_ms=0",
        ]

    def jamm_jar(self) -> Path:
        """jamm measures object sizes for memtable accounting; Cassandra refuses to guess without it."""
        jars = sorted(self.lib_dir.glob("jamm-*.jar"))
        if not jars:
            raise StackError(f"no jamm jar in {self.lib_dir}; run install first")
        return jars[-1]

    def classpath(self) -> str:
        """Jars only, in a stable order: a CDS archive is bound to the exact class path it was made with."""
        jars = sorted(self.lib_dir.glob("*.jar"))
        if not jars:
            raise StackError(f"no jars in {self.lib_dir}; run install first")
        return os.pathsep.join(map(str, jars))

    def cds_flags(self, java: str, classpath: str) -> list[str]:
        """Use the class-data archive if this JVM accepts it, else have this run write a fresh one at exit.

        Class loading and verification are most of Cassandra's start-up CPU; the archive removes ~2 s on
        two cores. A stale archive (other JDK, other jars) is rejected by the probe, and so is a truncated
        one, which would otherwise crash the JVM with SIGBUS while mapping it.
        """
        archive = self.cds_archive
        if archive.exists():
            probe = subprocess.run(
                [java, *CDS_AGENT_FLAGS, f"-XX:SharedArchiveFile={archive}", "-Xshare:on",
                 f"-XX:ErrorFile={self.log_dir}/cds_probe_hs_err.log", "-cp", classpath, "-version"],
                stdin=subprocess.DEVNULL, capture_output=True, cwd=self.home, timeout=60,
            )
            if probe.returncode == 0:
                return [*CDS_AGENT_FLAGS, f"-XX:SharedArchiveFile={archive}"]
            archive.unlink()
        # the dump lists every class it skips (signed jars, pre-Java-6 bytecode) as a warning: ~500 lines
        return [*CDS_AGENT_FLAGS, f"-XX:ArchiveClassesAtExit={archive}", "-Xlog:cds*=error"]

    def launcher(self) -> list[str]:
        """Run java without CAP_IPC_LOCK, so Cassandra's mlockall fails (one warning) instead of faulting
        in and pinning the whole heap: ~2 s of start-up CPU and 1+ GB of unswappable memory on a dev box.

        Only needed when we hold that capability (root); dropping it needs CAP_SETPCAP, which some
        containers lack, and then Cassandra simply locks its memory as it would anyway.
        """
        setpriv = shutil.which("setpriv")
        if setpriv and _effective_caps() & CAP_IPC_LOCK and _effective_caps() & CAP_SETPCAP:
            return [setpriv, "--bounding-set=-ipc_lock"]
        return []

    def command(self) -> Sequence[str]:
        java = java_binary()
        classpath = self.classpath()
        return [
            *self.launcher(),
            java,
            *self.jvm_flags(),
            *self.cds_flags(java, classpath),
            f"-javaagent:{self.jamm_jar()}",
            *self.cassandra_properties(),
            "-cp",
            classpath,
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def check_health(self) -> str:
        """Ask the node for its version over CQL, the way the application will talk to it.

        A plain TCP probe goes first: while the node boots, the driver would log a traceback for every
        refused poll. Schema and token metadata are off because one round trip is all this needs.
        """
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy

        from sinks.cassandra import PROTOCOL_VERSION

        s = self.settings
        host = s.cassandra_contact_points[0]
        with socket.create_connection((host, s.cassandra_port), timeout=2.0):
            pass
        auth = None
        if s.cassandra_username:
            password = s.cassandra_password.get_secret_value() if s.cassandra_password else ""
            auth = PlainTextAuthProvider(username=s.cassandra_username, password=password)
        profile = ExecutionProfile(
            load_balancing_policy=DCAwareRoundRobinPolicy(local_dc=s.cassandra_datacenter),
            request_timeout=5.0,
        )
        cluster = Cluster(
            contact_points=list(s.cassandra_contact_points),
            port=s.cassandra_port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            # pinned as the application's sessions pin it (see there why v4): skips the version probing
            protocol_version=PROTOCOL_VERSION,
            connect_timeout=2.0,
            control_connection_timeout=2.0,
            schema_metadata_enabled=False,
            token_metadata_enabled=False,
            auth_provider=auth,
        )
        try:
            row = cluster.connect().execute("SELECT release_version FROM system.local").one()
            if row is None:
                raise StackError("system.local returned no row")
            return str(row.release_version)
        finally:
            cluster.shutdown()
