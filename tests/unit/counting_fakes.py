"""In-memory Redis and Cassandra fakes that count round trips, for proving what a read costs.

A Redis round trip is one command or one pipeline ``execute``; a Cassandra round trip is one statement sent.
The Cassandra fake answers only the statements the API's read paths send (by table and shape) and fails on
anything else, so a new query shows up as a test failure rather than as a silent empty answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sinks import redis_bulk


@dataclass
class Prepared:
    query_string: str


class Result:
    def __init__(self, rows: list[Any]) -> None:
        self.current_rows = rows
        self.paging_state = None
        self.has_more_pages = False

    def __iter__(self) -> Any:
        return iter(self.current_rows)

    def one(self) -> Any:
        return self.current_rows[0] if self.current_rows else None


class Response:
    def __init__(self, rows: list[Any]) -> None:
        self._result = Result(rows)

    def add_callbacks(self, ok: Any, failed: Any) -> None:
        ok(self._result.current_rows)

    def result(self) -> Result:
        return self._result

    def clear_callbacks(self) -> None:  # the driver's: sinks.cassandra drops a finished request's callbacks
        return None


@dataclass
class Data:
    """The durable state: what Cassandra holds."""

    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    engagement: dict[str, tuple[int, int]] = field(default_factory=dict)
    likes: set[tuple[str, str]] = field(default_factory=set)  # (post_id, user_id)
    follows: set[tuple[str, str]] = field(default_factory=set)  # (follower_id, followee_id)
    blurhashes: dict[str, str] = field(default_factory=dict)  # image_id -> placeholder
    blocks: set[tuple[str, str]] = field(default_factory=set)  # (blocker_id, blocked_id)
    #: people tags: rows of photo_tags (post_id, image_id, tagged_id, tagger_id, x, y, pending, tagged_at)
    photo_tags: list[dict[str, Any]] = field(default_factory=list)


class CountingSession:
    def __init__(self, data: Data) -> None:
        self.data = data
        self.round_trips = 0
        self.statements: list[str] = []

    def prepare(self, query: str) -> Prepared:
        return Prepared(query)

    def execute_async(self, statement: Any, params: Any = None, paging_state: Any = None) -> Response:
        query = statement.query_string if isinstance(statement, Prepared) else str(statement)
        self.round_trips += 1
        self.statements.append(query)
        return Response(self._answer(query, list(params or ())))

    def _answer(self, query: str, params: list[Any]) -> list[Any]:
        d = self.data
        if "FROM posts WHERE post_id IN" in query:
            return [SimpleNamespace(post_id=p, **d.posts[p]) for p in params[0] if p in d.posts]
        if "FROM users WHERE user_id IN" in query:
            return [SimpleNamespace(user_id=u, **d.users[u]) for u in params[0] if u in d.users]
        if "FROM post_engagement" in query and "kind = 'l'" in query:
            ids, user = params
            return [SimpleNamespace(post_id=p, liked=True) for p in ids if (p, user) in d.likes]
        if "FROM post_engagement WHERE post_id IN" in query:
            return [SimpleNamespace(post_id=p, like_count=d.engagement[p][0], comment_count=d.engagement[p][1])
                    for p in params[0] if p in d.engagement]
        if "FROM photo_derivatives WHERE image_id IN" in query:
            return [SimpleNamespace(image_id=i, blurhash=d.blurhashes[i], prerendered={320, 1080})
                    for i in params[0] if i in d.blurhashes]
        if "FROM photo_tags WHERE post_id IN" in query:
            return [SimpleNamespace(**t) for t in d.photo_tags if t["post_id"] in params[0]]
        if "FROM following WHERE follower_id = ? AND followee_id IN ?" in query:
            follower, candidates = params
            return [SimpleNamespace(followee_id=f) for f in candidates if (follower, f) in d.follows]
        if "FROM likes_by_user WHERE user_id = ? LIMIT ?" in query:
            user, most = params
            return [SimpleNamespace(post_id=p) for p, u in sorted(d.likes) if u == user][:most]
        if "FROM following WHERE follower_id = ? LIMIT ?" in query:
            follower, most = params
            return [SimpleNamespace(followee_id=f) for u, f in sorted(d.follows) if u == follower][:most]
        if "FROM user_relations WHERE user_id = ? LIMIT ?" in query:
            user, most = params
            others = sorted({o for pair in d.blocks if user in pair for o in pair if o != user})
            return [SimpleNamespace(other_id=o, i_block=(user, o) in d.blocks, blocks_me=(o, user) in d.blocks,
                                    i_mute=False, mutes_me=False) for o in others][:most]
        if "FROM user_relations WHERE user_id = ? AND other_id IN ?" in query:
            user, others = params
            return [SimpleNamespace(other_id=o, i_block=(user, o) in d.blocks, blocks_me=(o, user) in d.blocks,
                                    i_mute=False, mutes_me=False)
                    for o in others if (user, o) in d.blocks or (o, user) in d.blocks]
        raise AssertionError(f"unexpected statement: {query}")


class CountingRedis:
    """Strings and hashes, enough for the read-through caches of the read paths."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.hashes: dict[str, dict[str, str]] = {}
        self.sorted_sets: dict[str, dict[str, float]] = {}
        self.round_trips = 0

    async def mget(self, keys: Iterable[str]) -> list[str | None]:
        self.round_trips += 1
        return [self.strings.get(k) for k in keys]

    def pipeline(self, transaction: bool = True) -> Pipeline:
        return Pipeline(self)

    def register_script(self, script: str) -> Any:
        """The partition copies' scripts (:mod:`sinks.partition_cache`): fill and invalidate."""
        async def call(keys: list[str], args: list[Any], client: Any = None) -> Any:
            if client is not None:
                return client.script(script, keys, args)
            self.round_trips += 1
            return self._script(script, keys, args)
        return call

    def _script(self, script: str, keys: list[str], args: list[Any]) -> int:
        if "INCR" not in script:  # fill: KEYS copy, version; ARGV the version seen, ttl, pairs
            copy, version = keys
            if self.strings.get(version, "") != args[0]:
                return 0
            pairs = args[2:]
            self.hashes[copy] = {str(pairs[i]): str(pairs[i + 1]) for i in range(0, len(pairs), 2)}
            return 1
        done, at = 0, 1  # invalidate / apply: KEYS copy, version per user; ARGV ttl, then per user n + pairs
        for copy, version in zip(keys[::2], keys[1::2], strict=True):
            self.strings[version] = str(int(self.strings.get(version, "0")) + 1)
            if "HDEL" not in script:
                done += int(self.hashes.pop(copy, None) is not None)
                continue
            count = int(args[at])
            pairs, at = args[at + 1:at + 1 + 2 * count], at + 1 + 2 * count
            held = self.hashes.get(copy)
            if held is None or held.get("\x00state") != "ok":
                continue
            for member, value in zip(pairs[::2], pairs[1::2], strict=True):
                if value == "":
                    held.pop(str(member), None)
                else:
                    held[str(member)] = str(value)
            done += 1
        return done

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> list[Any]:
        """The bulk hash reads of :mod:`sinks.redis_bulk` (one round trip each)."""
        self.round_trips += 1
        keys, args = keys_and_args[:numkeys], keys_and_args[numkeys:]
        if sha == redis_bulk._SHA[redis_bulk.HGETALL_MANY]:
            return [[v for pair in self._hgetall(k).items() for v in pair] for k in keys]
        assert sha == redis_bulk._SHA[redis_bulk.HMGET_MANY], sha
        return [self._hmget(k, *args) for k in keys]

    def _get(self, key: str) -> str | None:
        return self.strings.get(key)

    def _mget(self, keys: list[str]) -> list[str | None]:
        return [self.strings.get(key) for key in keys]

    def _exists(self, key: str) -> int:
        return int(key in self.strings or key in self.hashes)

    def run(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, "_" + name)(*args, **kwargs)

    def _set(self, key: str, value: Any, nx: bool = False, ex: int | None = None) -> bool:
        if nx and key in self.strings:
            return False
        self.strings[key] = str(value)
        return True

    def _hmget(self, key: str, *fields: str) -> list[str | None]:
        return [self.hashes.get(key, {}).get(f) for f in fields]

    def _hgetall(self, key: str) -> dict[str, str]:
        return dict(self.hashes.get(key, {}))

    def _hsetnx(self, key: str, name: str, value: Any) -> int:
        fields = self.hashes.setdefault(key, {})
        if name in fields:
            return 0
        fields[name] = str(value)
        return 1

    def _expire(self, key: str, ttl: int, nx: bool = False) -> int:
        return 1

    def _zadd(self, key: str, mapping: dict[str, float]) -> int:
        members = self.sorted_sets.setdefault(key, {})
        added = len(mapping.keys() - members.keys())
        members.update(mapping)
        return added

    def _zremrangebyrank(self, key: str, start: int, stop: int) -> int:
        ranked = sorted(self.sorted_sets.get(key, {}).items(), key=lambda item: (item[1], item[0]))
        gone = ranked[start:stop + 1 if stop != -1 else None]
        for member, _ in gone:
            del self.sorted_sets[key][member]
        return len(gone)

    def _eval(self, script: str, numkeys: int, key: str, closed: str, *args: Any) -> int:
        """Only the profile fill (``HSET`` of field/value pairs after updated_at and ttl, unless the closed-account
        mark is set) is modelled."""
        assert "HSET" in script and numkeys == 2
        if closed in self.strings:
            return 0
        updated_at, _ttl, *pairs = args
        fields = self.hashes.setdefault(key, {})
        fields["updated_at"] = str(updated_at)
        fields.update({str(pairs[i]): str(pairs[i + 1]) for i in range(0, len(pairs), 2)})
        return 1


class Pipeline:
    def __init__(self, redis: CountingRedis) -> None:
        self._redis = redis
        self._queued: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        def queue(*args: Any, **kwargs: Any) -> Pipeline:
            self._queued.append((name, args, kwargs))
            return self
        return queue

    async def execute(self) -> list[Any]:
        self._redis.round_trips += 1
        await asyncio.sleep(0)
        queued, self._queued = self._queued, []
        return [self._redis.run(name, *args, **kwargs) for name, args, kwargs in queued]


def post_row(author_id: str, visibility: str = "public", caption: str = "hi", image_ids: list[str] | None = None,
             deleted: bool = False, created_at: datetime | None = None) -> dict[str, Any]:
    return {"author_id": author_id, "caption": caption, "image_ids": image_ids or ["i1"], "visibility": visibility,
            "location_name": None, "created_at": created_at or datetime(2026, 1, 2, 3, 4, 5), "deleted": deleted}


def user_row(username: str, avatar_image_id: str | None = None, is_private: bool = False) -> dict[str, Any]:
    return {"username": username, "display_name": username.title(), "bio": None,
            "avatar_image_id": avatar_image_id, "is_private": is_private, "updated_at": datetime(2026, 1, 1)}
