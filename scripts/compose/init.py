"""The one-shot set-up job of docker-compose.yml: what `photostream stack up` does after the services are healthy.

CQL migrations (the keyspace and its tables, as `photostream stack migrate`), every catalog topic and its
``.dlq`` (photostream.topics_admin: workers create nothing), and the photo bucket. Each step is idempotent, so
the job runs on every `docker compose up`; the application services start once it exited 0.
"""

from __future__ import annotations

import sys

from photostream.settings import get_settings
from photostream.stack.migrate import migrate
from photostream.stack.s3 import S3Service
from photostream.topics_admin import ensure_topics


def main() -> int:
    settings = get_settings()
    applied = migrate(settings)
    print(f"keyspace {settings.cassandra_keyspace}: applied {', '.join(applied) or 'nothing pending'}")
    created = ensure_topics(settings, timeout_s=60)
    print(f"topics: created {len(created)}" + (f" ({', '.join(sorted(created))})" if created else ""))
    S3Service(settings).after_healthy()
    print(f"bucket {settings.s3_bucket}: present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
