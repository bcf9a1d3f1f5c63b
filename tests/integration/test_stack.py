"""The local stack: every service answers its real protocol; topics and tables match the catalog."""

from __future__ import annotations

import time

import httpx
from confluent_kafka.admin import AdminClient, ConfigResource

from photostream.contracts.catalog import TOPICS
from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.stack import manager
from photostream.stack.migrate import migrate
from photostream.topics_admin import ensure_topics
from producers.ids import new_id
from tests.integration.conftest import auth


def test_every_service_is_healthy_with_a_version(settings: Settings) -> None:
    rows = {r.name: r for r in manager.status(settings)}
    assert set(rows) == {"kafka", "cassandra", "redis", "s3", "prometheus"}
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


def test_topic_creation_and_migrations_are_idempotent(settings: Settings) -> None:
    assert ensure_topics(settings) == []
    assert migrate(settings) == []


def test_readyz_reports_each_dependency(api_url: str) -> None:
    body = httpx.get(api_url + "/readyz").json()
    assert body["ready"] is True
    assert set(body["checks"]) == {"kafka", "cassandra", "redis", "s3"}
    assert all(check["ok"] for check in body["checks"].values())


def test_photo_upload_and_download_through_presigned_s3_urls(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    ticket = client.post("/uploads", headers=auth(settings, user), json={"content_type": "image/png"})
    assert ticket.status_code == 201, ticket.text
    body = ticket.json()
    photo = b"\x89PNG\r\n\x1a\n" + new_id().encode() * 100
    put = httpx.put(body["upload_url"], content=photo, headers={"Content-Type": "image/png"})
    assert put.status_code == 200, put.text
    # an image in no post yet is its uploader's alone
    assert client.get(f"/images/{body['image_id']}", follow_redirects=False).status_code == 404
    redirect = client.get(f"/images/{body['image_id']}", headers=auth(settings, user), follow_redirects=False)
    assert redirect.status_code == 307
    assert httpx.get(redirect.headers["location"]).content == photo
    tampered = redirect.headers["location"].replace("Signature=", "Signature=0")
    assert httpx.get(tampered).status_code == 403


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
