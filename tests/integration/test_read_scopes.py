"""Each read given ``?after=`` waits for the views it reads, not for every view of the write
(``api.consistency.Waits``), through the real stack: a worker pool running every processor but the feeds
fan-out, and an API, in a namespace of their own (topics and Redis keys), so nothing else fans their posts out.

The namespace's topics are created once and reused by later runs (its consumer groups are per run, seeded at
the log end; its keyspace is per run and dropped at the end)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from photostream.settings import Settings
from photostream.stack.migrate import drop_keyspace
from producers.ids import new_id
from streams.batch_tasks import BATCH_PROCESSORS
from tests.integration.conftest import auth, in_namespace, own_worker_and_api
from tests.integration.test_visibility import create_post

NAMESPACE = "it-scopes"
#: every processor but the feeds fan-out
WITHOUT_FANOUT = ",".join(name for name in BATCH_PROCESSORS if name != "feeds")


@pytest.fixture(scope="module")
def no_fanout(settings: Settings, test_env: dict[str, str],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Settings]]:
    """A client of an API whose workers never fan posts out, and their settings."""
    own = in_namespace(settings, NAMESPACE, "scopes")
    worker, api, url = own_worker_and_api(own, test_env, tmp_path_factory, "scopes", {
        "PHOTOSTREAM_WORKER_PROCESSORS": WITHOUT_FANOUT, "PHOTOSTREAM_READ_YOUR_WRITES_TIMEOUT_S": "2"})
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client, own
    finally:
        api.stop()
        worker.stop()
        drop_keyspace(own)


def test_a_post_s_own_pages_do_not_wait_for_its_fan_out_and_the_home_feed_does(
    no_fanout: tuple[httpx.Client, Settings],
) -> None:
    """The post page, its author's grid and its comments are read from the posts projector's views; pushing the
    post into up to ``CELEBRITY_THRESHOLD`` followers' feeds is the feeds processor's, which the home feed waits
    for. (Here it never runs: a page waiting for it would be marked pending.)"""
    client, settings = no_fanout
    author = new_id()
    post_id, token = create_post(client, settings, author, "public", caption="not fanned out")
    headers = auth(settings, author)
    page = client.get(f"/posts/{post_id}", headers=headers, params={"after": token})
    assert (page.status_code, page.headers.get("x-photostream-consistency")) == (200, None), page.text
    assert page.json()["post_id"] == post_id
    grid = client.get(f"/users/{author}/posts", headers=headers, params={"after": token})
    assert grid.headers.get("x-photostream-consistency") is None, grid.text
    assert [item["post_id"] for item in grid.json()["items"]] == [post_id]
    comments = client.get(f"/posts/{post_id}/comments", headers=headers, params={"after": token})
    assert (comments.status_code, comments.headers.get("x-photostream-consistency")) == (200, None), comments.text
    feed = client.get("/feed", headers=headers, params={"after": token})
    assert feed.headers.get("x-photostream-consistency") == "pending", feed.text  # the fan-out never ran
