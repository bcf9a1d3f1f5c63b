"""The local stack: every service answers its real protocol; topics and tables match the catalog."""

from __future__ import annotations

import time

import httpx
from confluent_kafka.admin import AdminClient, ConfigResource

from photostream.contracts.catalog import DLQ_MAX_MESSAGE_BYTES, TOPICS
from photostream.contracts.catalog import topic as catalog_topic
from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.stack import manager
from photostream.stack.migrate import drop_keyspace, migrate, migration_files, unapplied_migrations
from photostream.topics_admin import ensure_topics
from producers.ids import new_id
from sinks.cassandra import connect
from tests.integration.conftest import auth, free_port_block, photostream
from tests.integration.photos import jpeg, upload_photo


def test_every_service_is_healthy_with_a_version(settings: Settings) -> None:
    rows = {r.name: r for r in manager.status(settings)}
    assert set(rows) == {"kafka", "cassandra", "redis", "s3", "alertmanager", "prometheus"}
    for row in rows.values():
        assert row.state.startswith("healthy") and row.version != "-", row


def test_catalog_topics_and_dlqs_exist_with_their_settings(settings: Settings) -> None:
    admin = AdminClient(client_config(settings))
    metadata = admin.list_topics(timeout=10).topics
    for spec in TOPICS:
        assert len(metadata[spec.name].partitions) == spec.partitions
        assert spec.dlq in metadata
    resource = ConfigResource(ConfigResource.Type.TOPIC, "profile-updated")
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["cleanup.policy"].value == "compact"
    assert configs["message.timestamp.type"].value == "LogAppendTime"  # (capping event times: topics_admin)
    dlq = ConfigResource(ConfigResource.Type.TOPIC, catalog_topic("like-changed").dlq)
    dlq_configs = admin.describe_configs([dlq])[dlq].result()  # (a record near the broker's limit, and headers)
    assert int(dlq_configs["max.message.bytes"].value) >= DLQ_MAX_MESSAGE_BYTES


def test_topic_creation_and_migrations_are_idempotent(settings: Settings) -> None:
    assert ensure_topics(settings) == []
    assert migrate(settings) == []


def test_a_worker_api_or_rebuild_on_a_keyspace_missing_a_migration_is_refused_naming_the_command(
        settings: Settings, test_env: dict[str, str]) -> None:
    """A worker of a release with a new migration, started before it was applied, failed on its first query of
    the new column, mid-batch. The run's own keyspace is current; one that lacks the newest is refused."""
    assert unapplied_migrations(settings) == []
    behind = settings.model_copy(update={"cassandra_keyspace": f"ps_behind_{new_id()[-12:]}"})
    migrate(behind)
    try:
        connect_cluster, session = connect(behind)
        newest = migration_files()[-1].name
        session.execute("DELETE FROM schema_migrations WHERE name = %s", (newest,))
        connect_cluster.shutdown()
        assert unapplied_migrations(behind) == [newest]
        env = test_env | {"PHOTOSTREAM_CASSANDRA_KEYSPACE": behind.cassandra_keyspace,
                          "PHOTOSTREAM_WORKER_WEB_PORT": str(free_port_block())}  # (the run's worker holds its own)
        for command in (["worker"], ["api"], ["rebuild", "notifications", "--check"]):
            refused = photostream(env, *command)
            assert refused.returncode == 2, refused.stderr
            assert newest in refused.stderr and "photostream stack migrate" in refused.stderr
            assert "Traceback" not in refused.stderr
    finally:
        drop_keyspace(behind)


def test_readyz_reports_each_dependency(api_url: str) -> None:
    body = httpx.get(api_url + "/readyz").json()
    assert body["ready"] is True
    assert set(body["checks"]) == {"kafka", "cassandra", "redis", "s3"}
    assert all(check["ok"] for check in body["checks"].values())


def test_photo_upload_through_a_presigned_s3_post_and_download_through_the_api(client: httpx.Client,
                                                                                settings: Settings) -> None:
    user = new_id()
    image_id = upload_photo(client, settings, user, jpeg(200, 100))
    # an image in no post yet is its uploader's alone
    assert client.get(f"/images/{image_id}", follow_redirects=False).status_code == 404
    redirect = client.get(f"/images/{image_id}", headers=auth(settings, user), follow_redirects=False)
    assert redirect.status_code == 307
    shown = httpx.get(str(client.base_url.copy_with(path="")) + redirect.headers["location"])
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    tampered = redirect.headers["location"].replace("sig=", "sig=0")
    assert httpx.get(str(client.base_url.copy_with(path="")) + tampered).status_code == 403


def test_upload_needs_a_token(client: httpx.Client) -> None:
    assert client.post("/uploads").status_code == 401


def test_prometheus_scrapes_the_api(api_url: str, settings: Settings) -> None:
    instance = api_url.removeprefix("http://")
    httpx.get(api_url + "/healthz")
    query = f'up{{job="photostream-api",instance="{instance}"}}'
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:  # Prometheus scrapes every 5 s and discovers files every 5 s
        answer = httpx.get(f"http://127.0.0.1:{settings.prometheus_port}/api/v1/query", params={"query": query})
        result = answer.json()["data"]["result"]
        if result and result[0]["value"][1] == "1":
            return
        time.sleep(1)
    raise AssertionError(f"Prometheus never scraped {instance}: {answer.text}")
