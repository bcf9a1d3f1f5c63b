"""Search through the real stack: users (``GET /search/users?q=``) registered, renamed, blocked and deleted, and
hashtags (``GET /search/hashtags?q=``) posted, muted and deleted, by events the worker applies, then found (or
not) by what a user types."""

from __future__ import annotations

import subprocess
import uuid

import httpx
import pytest

from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher
from sinks.cassandra import connect
from tests.integration.conftest import BIN, Process, auth
from tests.integration.test_first_flow import token_of


def _found(client: httpx.Client, settings: Settings, q: str, viewer: str | None = None, **params: object
           ) -> list[str]:
    headers = auth(settings, viewer) if viewer else {}
    answer = client.get("/search/users", params={"q": q, **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    return [item["username"] for item in answer.json()["items"]]


def _listed(settings: Settings, term: str) -> list[str]:
    """The user ids the search table lists under ``term``."""
    cluster, session = connect(settings, metadata=False)
    try:
        return [row.user_id for row in session.execute(
            "SELECT user_id FROM users_by_prefix WHERE prefix = %s AND term = %s", (term[:2], term))]
    finally:
        cluster.shutdown()


def test_users_are_found_by_the_start_of_their_name_renamed_blocked_and_deleted(
        client: httpx.Client, settings: Settings, worker: Process, publisher: Publisher) -> None:
    run = "q" + uuid.uuid4().hex[:8]
    names = {n: f"{run}{n}" for n in ("al", "alex", "alice", "bob")}
    ids = {n: new_id() for n in names}
    for n, name in names.items():
        last = publisher.publish(events.user_registered(user_id=ids[n], username=name, display_name=n.title()))
    viewer = new_id()
    found = client.get("/search/users", params={"q": f"{run}al", "after": token_of(last, settings)}).json()["items"]
    assert [(i["username"], i["id"], i["display_name"], i["is_private"]) for i in found] == [
        (names[n], ids[n], n.title(), False) for n in ("al", "alex", "alice")]  # name order: the exact one first
    assert _found(client, settings, f" @{run.upper()}AL ", limit=2) == [names["al"], names["alex"]]
    assert _found(client, settings, run) == [names[n] for n in ("al", "alex", "alice", "bob")]
    assert _found(client, settings, f"{run}x") == []

    # a rename (an upstream service's profile update): the new name is found, the old one no more, and its row goes
    renamed = publisher.publish(events.profile_updated(
        user_id=ids["alex"], username=f"{run}zed", display_name="Zed", is_private=True, tags_followed_only=False,
        tags_manual_approval=False))
    zed = client.get("/search/users", params={"q": f"{run}ze", "after": token_of(renamed, settings)}).json()["items"]
    assert [(i["id"], i["is_private"]) for i in zed] == [(ids["alex"], True)]  # private accounts are found
    assert _found(client, settings, f"{run}al") == [names["al"], names["alice"]]
    assert _listed(settings, names["alex"]) == []

    # someone in a block with the viewer is absent to them, not to others
    blocked = publisher.publish(events.block_changed(actor_id=ids["alice"], target_id=viewer, action="on"))
    assert client.get("/search/users", headers=auth(settings, viewer),
                      params={"q": f"{run}al", "after": token_of(blocked, settings)}).status_code == 200
    assert _found(client, settings, f"{run}al", viewer) == [names["al"]]
    assert _found(client, settings, f"{run}al") == [names["al"], names["alice"]]

    # a deleted account: its purge takes its row out (awaited by a read that is no search: a search would delete
    # the row itself, its profile gone)
    deleted = publisher.publish(events.account_deleted(user_id=ids["al"]))
    assert client.get(f"/users/{ids['al']}", params={"after": token_of(deleted, settings)}).status_code == 404
    assert _listed(settings, names["al"]) == []
    assert _found(client, settings, f"{run}al") == [names["alice"]]


def test_users_are_found_by_the_words_of_their_name_folded_every_word_typed_counting(
        client: httpx.Client, settings: Settings, worker: Process, publisher: Publisher) -> None:
    """A display name's words find its account too, whatever the case or accents typed; a query of several words
    finds the accounts each word starts a term of; a name changed is found by its new words only."""
    run = uuid.uuid4().hex[:8]
    zoe, other = new_id(), new_id()
    publisher.publish(events.user_registered(user_id=zoe, username=f"z{run}", display_name=f"Zoë Saldaña {run}"))
    last = publisher.publish(events.user_registered(user_id=other, username=f"o{run}", display_name=f"Zoltan {run}"))
    after = token_of(last, settings)
    assert {i["id"] for i in client.get("/search/users", params={"q": run, "after": after}).json()["items"]} == {
        zoe, other}
    assert [i["id"] for i in client.get("/search/users", params={"q": f"ZOE {run}"}).json()["items"]] == [zoe]
    # (the longest word picks the rows, here the run's: in user id order within one term)
    assert [i["id"] for i in client.get("/search/users", params={"q": f"{run} zo"}).json()["items"]] == [zoe, other]
    assert [i["id"] for i in client.get("/search/users", params={"q": f"sald {run}"}).json()["items"]] == [zoe]
    renamed = publisher.publish(events.profile_updated(
        user_id=zoe, username=f"z{run}", display_name=f"Zoe Perdomo {run}", is_private=False,
        tags_followed_only=False, tags_manual_approval=False))
    assert client.get("/search/users", params={"q": f"perdomo {run}", "after": token_of(renamed, settings)}
                      ).json()["items"][0]["id"] == zoe
    assert client.get("/search/users", params={"q": f"saldana {run}"}).json()["items"] == []


@pytest.mark.parametrize(("params", "field"), [({"q": "a"}, "q"), ({"q": "a b"}, "q"), ({"q": "é"}, "q"), ({}, "q"),
                                               ({"q": "abc", "limit": 51}, "limit")])
def test_a_search_that_cannot_name_a_user_is_a_422_naming_the_field(client: httpx.Client, params: dict[str, object],
                                                                     field: str) -> None:
    answer = client.get("/search/users", params=params)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == field, answer.text


def test_a_profile_from_before_the_search_is_found_once_backfilled(
        client: httpx.Client, settings: Settings, test_env: dict[str, str]) -> None:
    """A profile last written before migration 0035 has no search row (made here as then: the profile row
    alone); `photostream backfill user-search` lists it (a dry run writes nothing), at the profile's own time."""
    user, name = new_id(), "q" + uuid.uuid4().hex[:10] + "old"
    cluster, session = connect(settings, metadata=False)
    try:
        session.execute("INSERT INTO users (user_id, username, display_name, updated_at) VALUES (%s, %s, 'Old', %s) "
                        "USING TIMESTAMP %s", (user, name, 1_700_000_000_000, 1_700_000_000_000_000))
    finally:
        cluster.shutdown()

    def backfill(*flags: str) -> str:
        done = subprocess.run([str(BIN / "photostream"), "backfill", "user-search", *flags], env=test_env,
                              text=True, capture_output=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert _found(client, settings, name) == []
    assert "(dry run)" in backfill("--dry-run") and _listed(settings, name) == []
    backfill()
    assert _listed(settings, name) == [user]
    assert _found(client, settings, name[:-3]) == [name]


def _tags_found(client: httpx.Client, settings: Settings, q: str, viewer: str | None = None, after: str | None = None
                ) -> list[tuple[str, int]]:
    params = {"q": q} | ({"after": after} if after else {})
    answer = client.get("/search/hashtags", params=params, headers=auth(settings, viewer) if viewer else {})
    assert answer.status_code == 200, answer.text
    return [(item["tag"], item["post_count"]) for item in answer.json()["items"]]


def test_hashtags_are_found_by_their_start_most_used_first_unless_muted_or_gone(
        client: httpx.Client, settings: Settings, worker: Process, publisher: Publisher) -> None:
    run, author, viewer = "s" + uuid.uuid4().hex[:8], new_id(), new_id()
    publisher.publish(events.post_created(author_id=author, caption=f"#{run}sunset and #{run}Sunrise",
                                          image_ids=[new_id()]))
    both = publisher.publish(events.post_created(author_id=author, caption=f"#{run}sunset again",
                                                 image_ids=[new_id()]))
    short = events.post_created(author_id=author, caption=f"just #{run}sun", image_ids=[new_id()])
    publisher.publish(short)
    hidden = publisher.publish(events.post_created(author_id=author, caption=f"#{run}secret", image_ids=[new_id()],
                                                   visibility="followers"))
    for token in (both, hidden):  # (each token: the post's tags counted)
        _tags_found(client, settings, f"{run}s", after=token_of(token, settings))
    latest = events.post_created(author_id=author, caption=f"#{run}sun", image_ids=[new_id()])
    last = publisher.publish(latest)
    expected = [(f"{run}sun", 2), (f"{run}sunset", 2), (f"{run}sunrise", 1)]  # the most used first (ties: name)
    assert _tags_found(client, settings, f"{run}su", after=token_of(last, settings)) == expected
    assert _tags_found(client, settings, f"＃{run.upper()}SUN") == expected  # any case or width, a # allowed
    assert _tags_found(client, settings, f"{run}se") == []  # only a followers-only post carries it: never listed

    muted = client.post("/users/me/muted-tags", headers=auth(settings, viewer), json={"tag": f"{run}sunrise"})
    assert muted.status_code == 202, muted.text
    assert _tags_found(client, settings, f"{run}sun", viewer, muted.json()["token"]) == expected[:2]

    gone = publisher.publish(events.post_deleted(post_id=short.value["post_id"], author_id=author))
    assert _tags_found(client, settings, f"{run}sun", after=token_of(gone, settings)) == [
        (f"{run}sun", 1), *expected[1:]]  # the tag typed first, however little used
    gone = publisher.publish(events.post_deleted(post_id=latest.value["post_id"], author_id=author))
    assert _tags_found(client, settings, f"{run}sun", after=token_of(gone, settings)) == expected[1:]  # none left


@pytest.mark.parametrize("q", ["s", "#", "$$", "a b"])
def test_a_hashtag_search_that_cannot_start_a_tag_is_a_422_naming_q(client: httpx.Client, q: str) -> None:
    answer = client.get("/search/hashtags", params={"q": q})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "q", answer.text


def test_a_tag_counted_before_the_search_is_found_once_backfilled(
        client: httpx.Client, settings: Settings, test_env: dict[str, str]) -> None:
    """A tag counted before migration 0036 has no search row (made here as then: its count alone);
    `photostream backfill hashtag-search` lists it (a dry run writes nothing)."""
    tag = "b" + uuid.uuid4().hex[:10]
    cluster, session = connect(settings, metadata=False)
    try:
        session.execute("UPDATE hashtag_state SET post_count = 3 WHERE tag = %s", (tag,))

        def listed() -> list[str]:
            return [row.tag for row in session.execute(
                "SELECT tag FROM hashtags_by_prefix WHERE prefix = %s AND tag = %s", (tag[:2], tag))]

        for flags, rows in ((["--dry-run"], []), ([], [tag])):
            done = subprocess.run([str(BIN / "photostream"), "backfill", "hashtag-search", *flags], env=test_env,
                                  text=True, capture_output=True, timeout=300, check=False)
            assert done.returncode == 0, done.stderr
            assert listed() == rows, done.stdout
    finally:
        cluster.shutdown()
    assert _tags_found(client, settings, tag) == [(tag, 3)]
