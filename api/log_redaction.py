"""Bearer credentials never reach a log line.

Browsers cannot set headers on a WebSocket, so the status stream takes its token as ``?token=``; uvicorn logs
every WebSocket handshake's path with its query at INFO ("WebSocket /api/v1/users/…/status/stream?token=eyJ…
[accepted]") whatever the access-log setting, which put working access tokens (an hour each) in the API log
for anyone who reads it. The filter sits on uvicorn's handlers (its ``log_config``), so the error and access
loggers' lines are redacted before they are formatted, arguments included (the access formatter reads them).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

#: the query parameters that carry a credential: ``token`` (the status stream), OAuth-style ``access_token``
_CREDENTIALS = frozenset({"token", "access_token", "refresh_token"})
#: a query parameter (name and value) as a log line shows it: its name may be percent-encoded (``%74oken=``
#: reaches the route as ``token``, so it authenticates, and must be redacted too)
_PARAMETER = re.compile(r"((?:^|[?&;\s])([^=&?;\s\"']+)=)([^&;\s\"']+)")
#: a JSON Web Token wherever it stands (a separator the pattern above does not know still hides none)
_JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")
REDACTED = "[redacted]"


def redacted(text: str) -> str:
    """``text`` without credentials: query parameters named as one, and any token. (A ``;`` between parameters
    made the previous value swallow ``token=…``, and a name with an encoded space, ``token%20=``, passed.)"""
    if "=" in text:
        text = _PARAMETER.sub(_redact_credential, text)
    return _JWT.sub(REDACTED, text) if "eyJ" in text else text


def _redact_credential(found: re.Match[str]) -> str:
    if unquote_plus(found.group(2)).strip().lower() in _CREDENTIALS:
        return found.group(1) + REDACTED
    return found.group(0)


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redacted(a) if isinstance(a, str) else a for a in record.args)
        return True


#: how uvicorn words its line for each WebSocket handshake, accepted or refused (on its error logger)
_HANDSHAKE_LINE = '%s - "WebSocket %s"'


class WithoutHandshakeLines(logging.Filter):
    """Drops uvicorn's line per WebSocket handshake. It is an access-log line (client, path, outcome) that
    uvicorn writes on its error logger whatever ``access_log`` says, so with the access log off it was the one
    line still written per request: 12% of the API's CPU while 10,000 status streams connected (py-spy, stop 58),
    and one line per client in every reconnect storm."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(_HANDSHAKE_LINE))


def uvicorn_log_config(access_log: bool = True) -> dict[str, Any]:
    """uvicorn's own logging configuration, with :class:`RedactCredentials` on every handler; without the
    access log (``access_log`` false), without the WebSocket handshake lines either (:class:`WithoutHandshakeLines`)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    filters: dict[str, type[logging.Filter]] = {"redact_credentials": RedactCredentials}
    if not access_log:  # (first: a line dropped is not redacted for nothing)
        filters = {"without_handshake_lines": WithoutHandshakeLines, **filters}
    config.setdefault("filters", {}).update({name: {"()": kind} for name, kind in filters.items()})
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).extend(filters)
    return config
