"""Redis from Debian's ``redis-server``, persisted with an append-only file under ``.stack/data/redis``."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import redis

from photostream.stack.apt import ensure_binary
from photostream.stack.base import Service, StackError


class RedisService(Service):
    """One standalone Redis on 127.0.0.1.

    Redis rewrites its own process title (``redis-server 127.0.0.1:PORT``), which would hide the stack folder
    that :meth:`Service.pid` looks for. Starting it from a config file under ``.stack/conf`` with a
    ``proc-title-template`` that includes ``{config-file}`` keeps that absolute path in ``/proc/PID/cmdline``,
    so the shared pid check still proves the process is ours.
    """

    name = "redis"
    start_timeout_s = 30.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.redis_port}"

    @property
    def config_file(self) -> Path:
        return self.conf_dir / "redis.conf"

    def install(self) -> None:
        ensure_binary("redis-server", "redis-server")

    def prepare(self) -> None:
        """Write the config every start so a changed port or folder takes effect."""
        lines = [
            f"port {self.settings.redis_port}",
            "bind 127.0.0.1",
            "protected-mode yes",
            f'dir "{self.data_dir}"',
            "appendonly yes",
            'appenddirname "appendonlydir"',
            "appendfsync everysec",
            'save ""',
            "daemonize no",
            'logfile ""',
            f'pidfile "{self.root / "run" / "redis-server.pid"}"',
            'proc-title-template "{title} {listen-addr} {server-mode} {config-file}"',
        ]
        self.config_file.write_text("\n".join(lines) + "\n")

    def command(self) -> Sequence[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("redis-server is not on PATH; install the service first")
        return [binary, str(self.config_file)]

    def check_health(self) -> str:
        client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            if not client.ping():
                raise StackError("Redis did not answer PING")
            info = client.info("server")
            return str(info["redis_version"])
        finally:
            client.close()
