"""`photostream demo`: the simplest end-to-end flow on the local stack, narrated, then what to open.

Registers two users (SDK → user-registered), uploads a photo through a pre-signed S3 POST and completes it,
posts it with hashtags through the API, likes and comments it as the other user, then reads everything back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from api.auth import mint_access_token
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher


def sample_photo() -> bytes:
    """A real 640x480 PNG (a gradient): completing an upload decodes the image, so junk bytes are refused."""
    import pyvips

    xy = pyvips.Image.xyz(640, 480)
    red, green = xy[0] * (255 / 640), xy[1] * (255 / 480)
    return bytes(red.bandjoin([green, (red + green) / 2]).cast("uchar").pngsave_buffer())


class WorkerBehindError(RuntimeError):
    """The worker has not applied the demo's write in time (it is still draining older records)."""


def _until(probe: Callable[[], Any], what: str, timeout_s: float = 15.0) -> Any:
    """Poll a read until it shows the write (the demo's hashtag reads have no consistency token); if it does not
    in time, say so plainly instead of failing on a missing value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WorkerBehindError(f"{what} did not show within {timeout_s:.0f} s: the worker is still applying "
                                    "older records (see `photostream lag`); run `make demo` again once it caught up")
        time.sleep(0.2)


def start_fresh_groups_at_log_end(settings: Settings) -> list[str]:
    """A demo app id whose consumer groups never existed starts them at the log's end: the demo narrates its own
    events, not the backlog other runs left on the shared topics. Groups that exist keep their position, and so do
    the projectors' of a demo last run when they were faust agents (adopted first: they are not new)."""
    from photostream.lag import consumer_lag
    from streams.consumer_groups import adopt_faust_projector_positions, end_offsets, groups_of, seed_groups

    adopt_faust_projector_positions(settings)
    existing = {row.group for row in consumer_lag(settings)}
    fresh = {group: topics for group, topics in groups_of(settings.app_id).items() if group not in existing}
    if fresh:
        seed_groups(settings, fresh, end_offsets(settings, {t for topics in fresh.values() for t in topics}))
    return sorted(fresh)


def run(settings: Settings, say: Callable[[str], None]) -> None:
    base = f"http://{settings.api_host}:{settings.api_port}"
    alice, bob = new_id(), new_id()
    tag = f"sunset{alice[-4:]}"
    with Publisher(settings) as publisher:
        for user, name in ((alice, "alice"), (bob, "bob")):
            result = publisher.publish(events.user_registered(user_id=user, username=f"{name}{user[-4:]}",
                                                              display_name=name.title()))
        say(f"registered alice={alice} bob={bob} (user-registered @ offset {result.offset})")
    as_alice = {"Authorization": f"Bearer {mint_access_token(settings, alice)}"}
    as_bob = {"Authorization": f"Bearer {mint_access_token(settings, bob)}"}
    with httpx.Client(base_url=base + "/api/v1", timeout=30) as api:
        ticket = api.post("/uploads", headers=as_alice, json={"content_type": "image/png"}).json()
        httpx.post(ticket["upload_url"], data=ticket["fields"],
                   files={"file": ("beach.png", sample_photo(), "image/png")}).raise_for_status()
        done = api.post(f"/uploads/{ticket['image_id']}/complete", headers=as_alice)
        done.raise_for_status()
        say(f"uploaded photo {ticket['image_id']} straight to S3 with a pre-signed POST (S3 enforces the size "
            f"limit), completed: {done.json()['width']}x{done.json()['height']} {done.json()['content_type']}, "
            f"photo-uploaded published")
        created = api.post("/posts", headers=as_alice, json={
            "caption": f"Golden hour at the beach #{tag.title()} #Beach{alice[-4:]} #日本",
            "image_ids": [ticket["image_id"]]})
        created.raise_for_status()
        post = created.json()
        say(f"POST /posts → 202, event {post['event_id']}, token {post['token']}")
        seen = _until(lambda: _read_post(api, post["id"], post["token"]), "the new post", timeout_s=120)
        say(f"GET /posts/{post['id']}?after=TOKEN → read-your-writes: {seen['caption']!r}")
        api.post(f"/posts/{post['id']}/like", headers=as_bob).raise_for_status()
        api.post(f"/posts/{post['id']}/comments", headers=as_bob, json={"text": "wow!"}).raise_for_status()
        _until(lambda: _profile(api, alice), "alice's profile", timeout_s=60)  # (a follow needs the followee's)
        api.post(f"/users/{alice}/follow", headers=as_bob).raise_for_status()
        # the post's token also waits for its tags to be counted (the author finds it on the tag at once)
        summary = _until(lambda: _hashtag(api, tag, post["token"]), f"#{tag}", timeout_s=60)
        say(f"GET /hashtags/{tag.title()}?after=TOKEN → {summary}")
        profile = api.get(f"/users/{alice}").json()
        say(f"GET /users/{alice} → {profile}")
    say("")
    say("Open:")
    say(f"  API docs        {base}/docs")
    say(f"  the hashtag     {base}/api/v1/hashtags/{tag}")
    say(f"  trending        {base}/api/v1/trending?window=1h")
    say(f"  the photo       {base}/api/v1/images/{ticket['image_id']}?w=640")
    say(f"  readiness       {base}/readyz")
    prometheus = f"http://127.0.0.1:{settings.prometheus_port}"
    say(f"  Prometheus      {prometheus}/graph?g0.expr=photostream_events_processed_total")
    say(f"  worker metrics  http://127.0.0.1:{settings.worker_web_port}/metrics")
    say(f"  token (alice)   {as_alice['Authorization'].split()[1]}")
    say("Stop everything with: make down")


def _read_post(api: httpx.Client, post_id: str, token: str) -> dict[str, Any] | None:
    """The post once the worker applied it (a first worker on an old stack may still be catching up)."""
    answer = api.get(f"/posts/{post_id}", params={"after": token})
    return dict(answer.json()) if answer.status_code == 200 else None


def _profile(api: httpx.Client, user: str) -> dict[str, Any] | None:
    answer = api.get(f"/users/{user}")
    return dict(answer.json()) if answer.status_code == 200 else None


def _hashtag(api: httpx.Client, tag: str, after: str) -> dict[str, Any] | None:
    answer = api.get(f"/hashtags/{tag}", params={"after": after})
    if answer.status_code != 200:
        return None
    body = answer.json()
    return {"post_count": body["post_count"], "related": body["related"],
            "top_posts": [(p["post_id"], p["like_count"], p["comment_count"]) for p in body["top_posts"]]}

