"""One HTTP server process for the feed read benchmark: ``python -m benchmarks.feeds_serve api|bare PORT``.

Both targets are served the same way — uvicorn with the options ``photostream api`` uses
(``api.app.server_options``), bound with ``SO_REUSEPORT`` so several processes share one port and the kernel
spreads connections over them — so their ratio compares applications, not servers.
``api`` is the real application (``api.app.create_app``); ``bare`` is a Starlette app whose one route answers
``GET /bare`` with a JSON body read at start-up from ``PHOTOSTREAM_BENCH_BARE_BODY`` (a captured feed page,
so serialising the same bytes is part of the floor).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

#: printed once this process's socket listens (the port is shared: a sibling may answer for it before)
LISTENING = "feeds_serve: listening"


def bare_app(body: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def bare(_: Request) -> JSONResponse:
        return JSONResponse(body)

    return Starlette(routes=[Route("/bare", bare)])


def main(argv: list[str]) -> None:
    import uvicorn

    from api.app import server_options
    from photostream.settings import get_settings

    kind, port = argv[0], int(argv[1])
    settings = get_settings()
    if kind == "api":
        from api.app import create_app

        app = create_app(settings)
    else:
        app = bare_app(json.loads(Path(os.environ["PHOTOSTREAM_BENCH_BARE_BODY"]).read_text()))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(app, **server_options(settings))

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # uvicorn logs nothing when handed its sockets
                print(LISTENING, flush=True)

    Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
