"""Install a Debian package for a service binary that the machine lacks (Redis, Prometheus).

These services come from the distribution rather than ``.stack/`` because Debian's builds are maintained
and start as plain processes; we never let the package's own init scripts run them for us.
"""

from __future__ import annotations

import os
import shutil

from photostream.stack.base import StackError, run_checked

_updated = False


def ensure_binary(binary: str, package: str) -> str:
    """Return the path of ``binary``, installing ``package`` with apt-get first if it is not on PATH.

    The package index is refreshed once per process: a stale index is the usual reason an install fails on a
    fresh machine, and refreshing it for every package would only cost time.
    """
    global _updated
    found = shutil.which(binary)
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise StackError(f"{binary} is not on PATH and apt-get is unavailable: install {package} yourself")
    if os.geteuid() != 0:
        raise StackError(f"{binary} is not on PATH: run `apt-get install {package}` as root, then retry")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _updated:
        run_checked(["apt-get", "update"], env=env)
        _updated = True
    run_checked(["apt-get", "install", "-y", "--no-install-recommends", package], env=env)
    found = shutil.which(binary)
    if not found:
        raise StackError(f"apt-get installed {package} but {binary} is still not on PATH")
    return found
