"""The ``KAFKA_BROKERS=N`` stack profile's generated configs, checked without starting a JVM: every node has its
own ports (clashing with no other setting, so it runs beside the default stack), the same N voters, three
replicas with two in sync required, and the same cluster id; the single-node default keeps replication 1."""

from __future__ import annotations

from pathlib import Path

from photostream.settings import Settings
from photostream.stack.kafka import KafkaNode, KafkaService, kafka_services


def _settings(**overrides: object) -> Settings:
    # explicit values, so a PHOTOSTREAM_KAFKA_* variable in the environment cannot change what is tested
    base: dict[str, object] = {"dev_mode": True, "kafka_brokers": 3, "stack_dir": Path("/tmp/ps-unit-stack")}
    return Settings(**{**base, **overrides})  # type: ignore[arg-type]


def _nodes(settings: Settings) -> list[KafkaNode]:
    nodes = kafka_services(settings)
    assert all(isinstance(node, KafkaNode) for node in nodes)
    return [node for node in nodes if isinstance(node, KafkaNode)]


def test_the_default_is_the_single_node_with_replication_one() -> None:
    settings = _settings(kafka_brokers=1)
    (single,) = kafka_services(settings)
    assert type(single) is KafkaService and single.name == "kafka"
    config = single.server_config()
    assert config["controller.quorum.voters"] == f"1@127.0.0.1:{settings.kafka_controller_port}"
    assert config["default.replication.factor"] == config["min.insync.replicas"] == "1"
    assert single.address == settings.kafka_bootstrap_servers == f"127.0.0.1:{settings.kafka_port}"
    assert settings.kafka_replication_factor == 1


def test_three_nodes_have_distinct_ports_clashing_with_no_other_setting() -> None:
    settings = _settings()
    nodes = _nodes(settings)
    assert [node.name for node in nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    node_ports = [p for node in nodes for p in (node.client_port, node.controller_port, node.jmx_exporter_port)]
    assert len(set(node_ports)) == 9
    other_ports = {value for name, value in settings.model_dump().items()
                   if name.endswith("_port") and not name.startswith("kafka_cluster_")}
    assert not set(node_ports) & other_ports, "a node port is also another service's port"
    for node in nodes:
        config = node.server_config()
        assert config["listeners"] == (f"PLAINTEXT://127.0.0.1:{node.client_port},"
                                       f"CONTROLLER://127.0.0.1:{node.controller_port}")
        assert config["advertised.listeners"] == f"PLAINTEXT://{node.address}"
        assert node.metrics_address == f"127.0.0.1:{node.jmx_exporter_port}"
    assert [node.server_config()["node.id"] for node in nodes] == ["1", "2", "3"]


def test_every_node_names_the_same_three_voters() -> None:
    nodes = _nodes(_settings())
    voters = {node.server_config()["controller.quorum.voters"] for node in nodes}
    assert voters == {",".join(f"{node.node_id}@127.0.0.1:{node.controller_port}" for node in nodes)}
    assert all(node.server_config()["process.roles"] == "broker,controller" for node in nodes)


def test_replication_three_with_two_in_sync_and_no_unclean_election() -> None:
    for node in _nodes(_settings()):
        config = node.server_config()
        assert config["default.replication.factor"] == "3"
        assert config["min.insync.replicas"] == "2"
        assert config["offsets.topic.replication.factor"] == "3"
        assert config["transaction.state.log.replication.factor"] == "3"
        assert config["transaction.state.log.min.isr"] == "2"
        assert config["unclean.leader.election.enable"] == "false"
        assert config["auto.create.topics.enable"] == "false"


def test_nodes_keep_their_own_data_logs_and_pid_files_but_share_the_jars() -> None:
    nodes = _nodes(_settings())
    for attribute in ("log_dir", "conf_dir", "log_file", "pid_file", "server_properties"):
        assert len({getattr(node, attribute) for node in nodes}) == 3, attribute
    assert len({node.server_config()["log.dirs"] for node in nodes}) == 3
    assert len({node.home for node in nodes}) == 1
    assert [node.heap for node in nodes] == ["384m"] * 3


def test_a_node_does_not_mistake_another_nodes_process_for_its_own() -> None:
    first, second, _ = _nodes(_settings())
    cmdline_of_second = b"\x00".join(arg.encode() for arg in ("java", "-cp", f"{second.lib}/*", "kafka.Kafka",
                                                             str(second.server_properties)))
    assert second.owns(cmdline_of_second)
    assert not first.owns(cmdline_of_second)


def test_clients_bootstrap_from_every_node_and_topics_get_three_replicas() -> None:
    settings = _settings()
    assert settings.kafka_bootstrap_servers.split(",") == [node.address for node in _nodes(settings)]
    assert settings.kafka_replication_factor == 3
    explicit = _settings(kafka_bootstrap_servers="10.0.0.1:9092", kafka_replication_factor=2)
    assert (explicit.kafka_bootstrap_servers, explicit.kafka_replication_factor) == ("10.0.0.1:9092", 2)


def test_every_node_is_formatted_with_one_cluster_id(tmp_path: Path) -> None:
    nodes = _nodes(_settings(stack_dir=tmp_path))
    ids = {node.cluster_id() for node in nodes}
    assert len(ids) == 1
    (cluster_id,) = ids
    assert len(cluster_id) == 22 and "=" not in cluster_id  # Kafka's Uuid: 16 bytes, url-safe base64, unpadded


def test_every_broker_keeps_a_group_s_offsets_as_long_as_a_dlq_keeps_its_records() -> None:
    """``dlq redrive`` keeps its place as a memberless group's offsets, which the default retention (7 days)
    deleted: a redrive a quiet week later sent every record of the 30-day DLQ again."""
    from photostream.contracts.catalog import DLQ_CONFIG

    for settings in (_settings(kafka_brokers=1), _settings()):
        for node in kafka_services(settings):
            kept_ms = int(node.server_config()["offsets.retention.minutes"]) * 60_000  # type: ignore[attr-defined]
            assert kept_ms > int(DLQ_CONFIG["retention.ms"])
