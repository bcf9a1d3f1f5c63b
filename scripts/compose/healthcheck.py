"""A container health check without curl in the image: exit 0 when ``URL`` answers 200, 1 otherwise.

Usage (docker-compose.yml): ``python scripts/compose/healthcheck.py http://127.0.0.1:18000/readyz``.
"""

from __future__ import annotations

import sys
import urllib.request


def main(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return 0 if answer.status == 200 else 1
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
