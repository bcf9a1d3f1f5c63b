"""The one settings object.

Every knob of photostream lives here, read from environment variables prefixed ``PHOTOSTREAM_`` (and a
``.env`` file). It is built at start-up by :func:`get_settings`, never at import time, so tests and tools
can override it. Defaults describe the local stack on 127.0.0.1 with ports chosen away from the common
ones; the same code runs against a multi-broker Kafka, a Cassandra cluster and Redis Cluster by changing
these values only.
"""

from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from photostream.namespace import NAMESPACE_PATTERN, TopicNames, app_id_for, keyspace_for

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: built-in development secrets: refused at start-up unless ``dev_mode`` (see ``Settings._refuse_placeholders``)
DEV_JWT_SECRET = "photostream-dev-only-secret-change-me-0123456789"
DEV_S3_SECRET = "photostream-dev-secret"
#: shortest HMAC secret accepted outside development (RFC 7518 §3.2: at least the hash's 256 bits)
MIN_SECRET_BYTES = 32
#: node i (1..N) of the multi-node Kafka profile listens on the ``kafka_cluster_*`` ports plus this times (i - 1)
KAFKA_NODE_PORT_STRIDE = 100
#: a worker's static group membership name (the supervisor appends ``-i`` per process)
INSTANCE_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,200}")


class Settings(BaseSettings):
    """Validated configuration; see the README's settings table for each field."""

    model_config = SettingsConfigDict(
        env_prefix="PHOTOSTREAM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    #: development mode: accept the built-in placeholder secrets (the local stack, `make demo|test|bench` set it)
    dev_mode: bool = False
    #: a process that only publishes events with the SDK (an upstream service): it holds no JWT or S3 secret, so
    #: none is checked (it had to be given the API's secrets to start); the API, the worker and `token` refuse it
    publisher_only: bool = False

    # --- local stack (only used by `photostream stack`) ---
    stack_dir: Path = Field(default=PROJECT_ROOT / ".stack", description="git-ignored install/data cache")
    kafka_version: str = "4.1.1"
    cassandra_version: str = "5.0.9"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_heap: str = "768m"
    #: Kafka nodes `photostream stack up` runs: 1 (the single node above, the default), or N combined
    #: broker+controller KRaft nodes (all voters; replication factor min(N, 3), ``min.insync.replicas`` one less)
    #: on the ``kafka_cluster_*`` ports; then the bootstrap list and replication factor below default to theirs
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    #: node i's client, controller and JMX exporter ports are these + 100 * (i - 1): 19192/19292/19392,
    #: 19194/19294/19394 and 19171/19271/19371 for three nodes (19193 is Alertmanager's)
    kafka_cluster_port: int = 19192
    kafka_cluster_controller_port: int = 19194
    kafka_cluster_jmx_exporter_port: int = 19171
    #: each node's JVM heap: three nodes share a small machine with everything else
    kafka_cluster_heap: str = "384m"
    cassandra_storage_port: int = 17000
    #: a quarter of it holds memtables (photostream.stack.cassandra): room for a burst without constant flushes
    cassandra_heap: str = "2g"
    redis_port: int = 16379
    s3_port: int = 18333
    s3_master_port: int = 19333
    s3_volume_port: int = 18380
    s3_filer_port: int = 18888
    s3_admin_port: int = 18646
    prometheus_port: int = 19090
    #: Alertmanager, receiving the local Prometheus' alerts (19093, its usual 9093 shifted, is Kafka's controller)
    alertmanager_port: int = 19193
    #: where Alertmanager posts alerts (its webhook format); unset: they are only shown in its UI and API
    alert_webhook_url: str | None = None
    #: the Prometheus JMX exporter java agent in the Kafka JVM (broker metrics), and its version on Maven Central
    kafka_jmx_exporter_port: int = 19071
    jmx_exporter_version: str = "1.0.1"
    #: `photostream lag --serve` (consumer lag gauges scraped by the local Prometheus)
    lag_exporter_port: int = 19308
    #: the address it binds (``0.0.0.0`` in a container, so another container's Prometheus can scrape it)
    lag_exporter_host: str = "127.0.0.1"

    # --- namespace (photostream.namespace): one shared stack, independent runs ---
    #: prefixes topics (``NS.topic``), Redis keys (``NS:key``) and, unless set explicitly, the app id
    #: (``photostream-NS``) and keyspace (``photostream_NS``); empty: the contract's plain names
    namespace: str = ""

    # --- Kafka ---
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_replication_factor: int = 1
    publish_timeout_s: float = 10.0
    #: how long a command (`lag`, `tail`, `dlq`) waits for the broker's answer before saying it did not answer
    kafka_admin_timeout_s: float = Field(default=10.0, gt=0, le=3600)

    # --- Cassandra ---
    #: ``a,b,c`` or a JSON list (NoDecode: pydantic-settings would JSON-decode the value before the validator)
    cassandra_contact_points: Annotated[list[str], NoDecode] = ["127.0.0.1"]
    cassandra_port: int = 19042
    cassandra_datacenter: str = "datacenter1"
    cassandra_keyspace: str = "photostream"
    cassandra_replication: str = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    cassandra_username: str | None = None
    cassandra_password: SecretStr | None = None
    #: Cassandra requests one worker connection keeps in flight at once (0: no cap; see
    #: ``sinks.cassandra.cap_in_flight``): a worker draining a backlog otherwise queued hundreds, and every read
    #: and write, the ones a client waits on included, waited behind them
    cassandra_worker_in_flight: int = Field(default=8, ge=0)

    # --- Redis ---
    redis_url: str = "redis://127.0.0.1:16379/0"
    redis_cluster: bool = False

    # --- S3 ---
    s3_endpoint_url: str = "http://127.0.0.1:18333"
    s3_region: str = "us-east-1"
    s3_access_key: str = "photostream"
    s3_secret_key: SecretStr = SecretStr(DEV_S3_SECRET)
    s3_bucket: str = "photos"
    s3_presign_expiry_s: int = 900
    #: threads of an API process that call S3 (its own: a slow S3 never starves logins or readiness checks), and
    #: how long a call waits for one before the request is answered 503 (:mod:`api.s3_lane`)
    s3_threads: int = Field(default=16, ge=1, le=256)
    s3_queue_wait_s: float = Field(default=2.0, gt=0, le=60)

    # --- photos (api.routes.uploads, api.routes.images) ---
    #: largest original accepted; S3 itself refuses a bigger upload (the signed POST policy's content-length-range)
    upload_max_bytes: int = 20 * 1024 * 1024
    #: a header declaring more pixels than this is a decompression bomb: refused at completion and render
    image_max_pixels: int = 50_000_000
    rate_limit_uploads_per_minute: int = 30
    rate_limit_uploads_burst: int = 20
    #: ``photostream sweep-uploads`` deletes originals never completed once they are this old (far beyond a
    #: ticket's ``s3_presign_expiry_s``, so an upload about to be reported is never taken)
    upload_sweep_after_s: int = 24 * 3600
    #: HMAC key of signed image links (non-public photos); unset: derived from the JWT signing secret
    image_link_secret: SecretStr | None = None
    #: a signed link stays valid at least this long (expiry rounded up to 10 minutes, so links repeat)
    image_link_ttl_s: int = 3600
    #: how long a CDN or browser may keep a public post's photo: its bytes never change, but its audience may
    #: (the post deleted, the account turned private), and a cached copy outlives that by up to this long
    image_public_max_age_s: int = 3600
    #: threads rendering sizes in an API process (libvips releases the GIL while it works)
    image_render_threads: int = 2
    #: rendered copies kept in each API process's memory (LRU by bytes): a hot image costs no S3 read
    image_hot_cache_bytes: int = 64 * 1024 * 1024
    #: how long an API process trusts "a public post shows this image" before checking again (public images are
    #: CDN-cacheable for ``image_public_max_age_s`` anyway, so a few seconds here change little a client sees)
    image_public_ttl_s: float = 5.0

    # --- avatars (api.routes.avatars, streams.avatars) ---
    #: the CDN's purge endpoint, told when a user's active avatar changes; unset: no purge is sent
    avatar_purge_url: str | None = None
    #: ``PURGE``: one ``PURGE {avatar_purge_url}{path}`` per avatar URL (Varnish style); ``POST``: one webhook
    #: ``POST {avatar_purge_url}`` with ``{"paths": [...]}``
    avatar_purge_method: Literal["PURGE", "POST"] = "PURGE"
    avatar_purge_timeout_s: float = 2.0
    #: how long browsers and CDNs may keep an avatar answer (a change is also purged from the CDN)
    avatar_max_age_s: int = 300

    # --- processes ---
    app_id: str = "photostream"
    api_host: str = "127.0.0.1"
    api_port: int = 18000
    #: the proxies whose ``X-Forwarded-For`` names the client (comma-separated addresses or networks, uvicorn's
    #: ``forwarded_allow_ips``); empty: none is believed. uvicorn believed it from 127.0.0.1 by default, so any
    #: client on the API's own host named its own address, and escaped every per-address limit
    trusted_proxies: str = ""
    worker_web_port: int = 18001
    #: the address the worker's web port (`/metrics`, `/ready`) binds (``0.0.0.0`` in a container)
    worker_web_host: str = "127.0.0.1"
    worker_data_dir: Path = Field(default=PROJECT_ROOT / ".stack" / "worker")
    #: a name this worker keeps across restarts and no other running worker has (a StatefulSet pod's name, a
    #: host's name with one worker per host); set, the worker is a static member of its consumer groups
    #: (``group.instance.id``; process *i* of ``--processes N`` adds ``.p<i>``): restarted within the session timeout
    #: it takes its partitions back at once, with no rebalance of the others. Unset: dynamic membership
    worker_instance_id: str | None = None
    #: the processors this worker runs (names as in `photostream lag`: ``posts``, ``profiles``, ``feeds``,
    #: ``popularity``…; a comma list); empty: all of them. Why choose: processors in one process share its event
    #: loop and its core, so a backlog on one topic slowed every other one's reads (benchmark 15); a pool of
    #: workers for what clients wait on (``posts,profiles,feeds``) and another for the rest keeps them apart
    worker_processors: Annotated[list[str], NoDecode] = []
    #: what a worker of several processes (``--processes`` 2 or more: the default on a multi-core machine) that
    #: runs every processor puts in a lane of its own, one more process beside the N that run the rest: what a
    #: client waits on after a post (its page, the author's home feed, the profile). In the same event loops as
    #: the rest, a backlog on any topic delayed them: read-your-writes p99 1,176 ms while a backlog drained,
    #: against 270 ms with a lane (benchmark 15). Empty: every process runs every processor
    worker_live_processors: Annotated[list[str], NoDecode] = ["posts", "profiles", "feeds"]
    #: how much lower (``nice``) the other processes of a worker with a live lane run: where they share cores
    #: with the lane, the API and the stores, a backlog's work yields to what a client waits on (benchmark 15,
    #: two runs each: the lane's p99 474-506 ms at 0, 309-333 ms at 5; ``POST /posts`` p99 292-348 → 120-148 ms;
    #: the drain as long). 0: the same priority
    worker_bulk_niceness: int = Field(default=5, ge=0, le=19)

    # --- auth ---
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_public_key: str | None = None
    jwt_private_key: SecretStr | None = None
    jwt_issuer: str = "photostream"
    #: at most 30 days (api.auth.MAX_ACCESS_LIFETIME_S: a longer-lived token is refused)
    jwt_access_ttl_s: int = Field(default=3600, ge=1, le=30 * 24 * 3600)
    #: with Redis unreachable, the few reads that degrade to Cassandra (GET /feed, GET /users/{id}/status)
    #: accept a signed, unexpired access token without its revocation check (api.auth.verify_access); false:
    #: they answer 503 like every other route
    revocation_fail_open_reads: bool = True
    #: HMAC key of consistency tokens; unset: derived from the JWT signing secret (api.consistency.token_key)
    consistency_secret: SecretStr | None = None
    #: refresh tokens (rotated on every use) expire this long after they were minted
    refresh_ttl_s: int = 30 * 24 * 3600
    #: argon2id cost (OWASP's minimum: 19 MiB, 2 passes, 1 lane); raise on hardware with more headroom
    password_hash_time_cost: int = 2
    password_hash_memory_kib: int = 19 * 1024
    password_hash_parallelism: int = 1
    #: login attempts (successful or not) per account and per client address (429 with Retry-After above)
    login_per_account_per_minute: float = 5.0
    login_per_account_burst: int = 10
    login_per_address_per_minute: float = 30.0
    login_per_address_burst: int = 60
    #: registrations per client address (429 with Retry-After above): each costs a password hash, and each
    #: answer says whether a name or an address is taken
    register_per_address_per_minute: float = 10.0
    register_per_address_burst: int = 20

    # --- hashtag pipeline ---
    hashtag_window_s: int = 10
    #: how long the hashtag counter accumulates before applying: tag pages lag a post by about this much (each
    #: touched tag costs one read and one write per flush, so not per record)
    hashtag_flush_s: float = 1.0
    #: how long likes and comments accumulate before their counts and "liked by me" are applied: a like's
    #: ``?after=`` read waits for it, so it is a live interval, not a window
    engagement_flush_s: float = 0.2
    hashtag_top_n: int = 50
    popularity_like_weight: float = 1.0
    popularity_comment_weight: float = 3.0
    popularity_tau_hours: float = 12.0
    trending_min_authors: int = 3
    batch_max_events: int = 50_000
    #: how long a like or a comment that does not name its post's author, of a post the posts view does not have
    #: yet, waits for the posts projector before it is applied unchecked against blocks
    #: (:mod:`streams.posts_projected`)
    posts_projected_wait_s: float = Field(default=30.0, gt=0, le=600)
    #: the longest wait between two attempts of a batch whose store is failing (the waits double from 0.5 s)
    batch_retry_backoff_max_s: float = Field(default=30.0, gt=0, le=3600)

    # --- home feed ---
    #: authors with more followers than this are not fanned out on write; their posts merge in at read time
    celebrity_threshold: int = 10_000
    #: a pull (celebrity) account returns to push only below this (hysteresis around the threshold)
    celebrity_low_mark: int = 8_000
    #: newest post ids kept per Redis feed; older pages come from Cassandra behind the same cursor
    feed_cap: int = 800
    #: a feed nobody read for this long expires from Redis (rebuilt from Cassandra on the next read)
    feed_ttl_s: int = 7 * 24 * 3600
    #: followers read per page and written per Redis pipeline during fan-out
    fanout_page_size: int = 2_000

    # --- API behaviour ---
    api_access_log: bool = False  # per-request log lines cost ~100 µs each; metrics cover the counts
    #: a tag's page is shared by its readers this long, then served for as long again while one refresh runs
    hashtag_response_cache_s: float = 1.0
    read_your_writes_timeout_s: float = 5.0
    rate_limit_posts_per_minute: int = 5
    rate_limit_posts_burst: int = 5
    #: people tags added per user (a bucket of its own, besides the general write bucket): tagging a crowd
    #: photo is a burst, tagging hundreds of strangers a minute is spam
    rate_limit_tags_per_minute: int = 60
    rate_limit_tags_burst: int = 40
    rate_limit_writes_per_minute: int = 300
    rate_limit_writes_burst: int = 60
    #: reads per client address (api.middleware.ReadRateLimit; 0: no limit); `make bench` and the tests raise it
    rate_limit_reads_per_second: float = 50.0
    rate_limit_reads_burst: int = 200
    #: largest request body accepted (413 above it), checked from Content-Length and while streaming
    max_request_body_bytes: int = 1024 * 1024
    #: web origins whose pages may call the API from a browser (CORS): ``https://a.example,https://b.example`` or
    #: a JSON list; empty: no CORS headers at all (native apps and servers need none)
    cors_allow_origins: Annotated[list[str], NoDecode] = []

    # --- `photostream simulate` (photostream.simulate): the synthetic workload `make demo` runs ---
    simulate_users: int = Field(default=10_000, ge=2)
    #: actions started per second (posts, likes, comments, follows, feed reads, direct messages)
    simulate_rate_per_s: float = Field(default=20.0, gt=0)
    #: actions in flight at most (HTTP connections to the API)
    simulate_concurrency: int = Field(default=16, ge=1)

    # --- live status (badge + presence over WebSocket) ---
    #: a WebSocket connection counts as live this long after its API process last refreshed it
    presence_ttl_s: float = 30.0
    #: how often each API process refreshes its connections and reaps those of dead processes
    presence_heartbeat_s: float = 10.0
    #: statuses queued per WebSocket before the client counts as too slow and is dropped
    status_queue_max: int = 16

    # --- notifications (streams.notifications, api.routes.notifications) ---
    #: one notification per (recipient, kind, target) per bucket of this many seconds, updated in place
    notification_bucket_s: int = Field(default=3600, ge=1)
    #: the newest notifications each user keeps in Redis; older ones are paged from Cassandra
    notifications_cap: int = Field(default=200, ge=1)
    #: the latest actors a notification names ("alice, bob and 40 others")
    notification_actors_shown: int = Field(default=3, ge=1)

    @field_validator("cassandra_contact_points", "cors_allow_origins", "worker_processors", "worker_live_processors",
                     mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept ``a,b,c`` from the environment as well as a JSON list."""
        if isinstance(value, str) and value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("a JSON list, or values separated by commas") from None
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_shape(cls, value: str) -> str:
        """Checked at start (a ``notaurl`` was a traceback from the first command that reached for Redis)."""
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("cassandra_replication")
    @classmethod
    def _replication_shape(cls, value: str) -> str:
        """A CQL replication map with its ``class`` (a typo was a CQL syntax error from inside ``migrate``)."""
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = None
        if not isinstance(parsed, dict) or "class" not in parsed:
            raise ValueError("a CQL replication map, e.g. {'class': 'SimpleStrategy', 'replication_factor': 1}")
        return value

    @model_validator(mode="after")
    def _rs256_keys(self) -> Settings:
        """RS256 needs its key pair in development too (a token was a traceback when minted)."""
        if self.jwt_algorithm == "RS256" and not self.publisher_only:
            missing = [name for name, value in (("PHOTOSTREAM_JWT_PRIVATE_KEY", self.jwt_private_key),
                                                ("PHOTOSTREAM_JWT_PUBLIC_KEY", self.jwt_public_key)) if not value]
            if missing:
                raise ValueError("; ".join(f"{name} is not set (needed for RS256)" for name in missing))
        return self

    @field_validator("worker_instance_id")
    @classmethod
    def _instance_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not INSTANCE_ID_PATTERN.fullmatch(value):
            raise ValueError("PHOTOSTREAM_WORKER_INSTANCE_ID: letters, digits, '.', '_' and '-', at most 200 "
                             "characters (or unset, for dynamic group membership)")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace_shape(cls, value: str) -> str:
        if value and not NAMESPACE_PATTERN.match(value):
            raise ValueError("PHOTOSTREAM_NAMESPACE: lower-case letters, digits and dashes, starting with a letter, "
                             "at most 24 characters")
        return value

    @model_validator(mode="after")
    def _namespaced_names(self) -> Settings:
        """A namespace derives the app id and keyspace, unless those were set explicitly."""
        if self.namespace:
            if "app_id" not in self.model_fields_set:
                self.app_id = app_id_for(self.namespace, self.app_id)
            if "cassandra_keyspace" not in self.model_fields_set:
                self.cassandra_keyspace = keyspace_for(self.namespace, self.cassandra_keyspace)
        return self

    @model_validator(mode="after")
    def _kafka_cluster_defaults(self) -> Settings:
        """With the multi-node profile, clients bootstrap from every node and topics get 3 replicas, unless
        those were set explicitly."""
        if self.kafka_brokers > 1:
            if "kafka_bootstrap_servers" not in self.model_fields_set:
                self.kafka_bootstrap_servers = ",".join(
                    f"127.0.0.1:{self.kafka_cluster_port + KAFKA_NODE_PORT_STRIDE * i}"
                    for i in range(self.kafka_brokers))
            if "kafka_replication_factor" not in self.model_fields_set:
                self.kafka_replication_factor = min(3, self.kafka_brokers)
        return self

    @property
    def topic_names(self) -> TopicNames:
        """How this namespace names the catalog's topics on the broker."""
        return TopicNames(self.namespace)

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        """Outside development, refuse the built-in and short secrets: with the default JWT secret anyone
        could mint a token for any user. The message names the variable to set."""
        if self.dev_mode or self.publisher_only:
            return self
        problems = []
        if self.jwt_algorithm == "HS256":
            secret = self.jwt_secret.get_secret_value()
            if secret == DEV_JWT_SECRET:
                problems.append("PHOTOSTREAM_JWT_SECRET is the built-in development secret")
            elif len(secret.encode()) < MIN_SECRET_BYTES:
                problems.append(f"PHOTOSTREAM_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes")
        if self.consistency_secret is not None \
                and len(self.consistency_secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            problems.append(f"PHOTOSTREAM_CONSISTENCY_SECRET is shorter than {MIN_SECRET_BYTES} bytes")
        if self.s3_secret_key.get_secret_value() == DEV_S3_SECRET:
            problems.append("PHOTOSTREAM_S3_SECRET_KEY is the built-in development secret")
        if problems:
            raise ValueError("; ".join(problems) + " — set real secrets, or PHOTOSTREAM_DEV_MODE=true for local "
                             "development only")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use (tests call ``get_settings.cache_clear()``)."""
    return Settings()
