"""`photostream simulate` against this run's worker and API: a short run with few users leaves real effects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from photostream.domain.images import WIDTHS
from photostream.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import Process, auth
from tests.integration.waiting import wait_for

BIN = Path(sys.executable).parent


def test_a_short_simulation_posts_photos_fills_feeds_counts_likes_and_sets_badges(
        worker: Process, api_url: str, test_env: dict[str, str], settings: Settings, tmp_path: Path) -> None:
    report_file = tmp_path / "report.json"
    run = subprocess.run(
        [str(BIN / "photostream"), "simulate", "--users", "200", "--duration", "10", "--seed", "11",
         "--report", str(report_file)],
        env={**test_env, "COLUMNS": "160"}, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stdout + run.stderr, run.stderr[-3000:]
    assert "final summary" in run.stdout
    # its output is no terminal here: plain lines of progress while it ran, not only the final summary
    during = run.stdout.split("final summary")[0]
    assert any(" actions in " in line and "consumer lag" in line for line in during.splitlines()), during[-3000:]
    assert "event age p99" in run.stdout and "look at" in run.stdout
    report: dict[str, Any] = json.loads(report_file.read_text())
    assert report["users"] == 200
    assert len(report["celebrities"]) >= 3
    assert min(report["celebrities"].values()) > settings.celebrity_threshold
    assert report["posts"], report["outcomes"]
    # every accepted post is accounted for: seen applied, given up on, or cut short by the end of the run
    assert len(report["posts"]) + report["unapplied_posts"] + report["unconfirmed_posts"] == len(report["post_authors"])
    assert report["event_age_p99_s"] is not None

    with httpx.Client(base_url=api_url + "/api/v1", timeout=30) as api:
        # a post exists, with its completed photo rendered from S3
        first = report["posts"][0]
        post = api.get(f"/posts/{first}").json()
        assert post["photos"] == [f"/api/v1/images/{report['images'][first]}"]
        photo = api.get(f"/images/{report['images'][first]}", params={"w": min(WIDTHS)})
        assert photo.status_code == 200 and photo.headers["content-type"].startswith("image/")

        # the celebrity follower's feed holds posts of people they follow
        follower = report["celebrity_follower"]
        followed_posts = {p for p in report["posts"] if report["post_authors"][p]
                          in set(report["celebrity_follower_follows"])}
        assert followed_posts, "nobody the celebrity follower follows posted"

        def feed() -> set[str]:
            answer = api.get("/feed", headers=auth(settings, follower), params={"limit": 50})
            return {item["post_id"] for item in answer.json()["items"]} if answer.status_code == 200 else set()

        wait_for(feed, lambda ids: bool(ids & followed_posts), 60, "the celebrity follower's feed")

        # likes are counted
        most_liked, likes = max(report["likes"].items(), key=lambda kv: kv[1])
        wait_for(lambda: api.get(f"/posts/{most_liked}").json()["like_count"], lambda n: n == likes, 60,
                 f"{likes} likes on {most_liked}")

        # the badge user's messages were never read: their unread badge is set
        badge = report["badge_user"]
        assert report["messages_to"][badge] >= 1
        wait_for(lambda: api.get(f"/users/{badge}/status", headers=auth(settings, badge)).json(),
                 lambda status: status["newly_unread_count"] >= 1, 60, "the badge user's unread badge")
