"""Credentials in query strings are redacted from uvicorn's log lines, arguments included."""

from __future__ import annotations

import logging

from api.log_redaction import REDACTED, RedactCredentials, WithoutHandshakeLines, redacted, uvicorn_log_config


def test_a_query_token_is_redacted_and_the_rest_of_the_line_kept() -> None:
    line = '127.0.0.1:5 - "WebSocket /api/v1/users/u/status/stream?token=eyJabc.def-ghi&detail=1" [accepted]'
    assert redacted(line) == line.replace("eyJabc.def-ghi", REDACTED)
    assert redacted("/x?detail=1&access_token=abc") == f"/x?detail=1&access_token={REDACTED}"
    assert redacted("/feed?cursor=abc&limit=5") == "/feed?cursor=abc&limit=5"


def test_a_percent_encoded_parameter_name_is_redacted_too() -> None:
    """``?%74oken=`` reaches the route as ``token`` (the stream accepted it), and was logged in full."""
    for name in ("%74oken", "%54OKEN", "access%5Ftoken", "TOKEN"):
        assert redacted(f"GET /s?detail=1&{name}=eyJsecret x") == f"GET /s?detail=1&{name}={REDACTED} x"
    assert redacted("/s?tokens=abc&my_token=def") == "/s?tokens=abc&my_token=def"  # other names are left as they are


def test_a_token_after_a_semicolon_or_an_encoded_space_or_anywhere_is_redacted() -> None:
    """``?detail=1;token=…`` made the detail value swallow the token, which was logged in clear (the stream
    refused the request with 422, and the line kept a working token); ``token%20=`` passed too."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
    assert jwt not in redacted(f'"WebSocket /s?detail=1;token={jwt}" 422')
    assert redacted("GET /s?token%20=abc&y=1") == f"GET /s?token%20={REDACTED}&y=1"
    assert redacted(f"Authorization went astray: {jwt} here") == f"Authorization went astray: {REDACTED} here"
    assert redacted("/s?detail=1;limit=5") == "/s?detail=1;limit=5"


def test_the_filter_redacts_arguments_as_uvicorns_formatters_read_them() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:5", "/s?token=secret"), None)
    assert RedactCredentials().filter(record)
    assert "secret" not in record.getMessage() and REDACTED in record.getMessage()
    config = uvicorn_log_config()
    assert all("redact_credentials" in h["filters"] for h in config["handlers"].values())


def test_without_the_access_log_no_line_is_written_per_websocket_handshake() -> None:
    def record(msg: str, args: tuple[object, ...]) -> logging.LogRecord:
        return logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args, None)

    accepted = record('%s - "WebSocket %s" [accepted]', ("127.0.0.1:5", "/s"))
    refused = record('%s - "WebSocket %s" %d', ("127.0.0.1:5", "/s", 403))
    started = record("Uvicorn running on %s", ("http://127.0.0.1:8000",))
    drop = WithoutHandshakeLines()
    assert not drop.filter(accepted) and not drop.filter(refused)
    assert drop.filter(started)  # every other line of uvicorn's stays
    quiet, loud = uvicorn_log_config(access_log=False), uvicorn_log_config(access_log=True)
    assert all("without_handshake_lines" in h["filters"] for h in quiet["handlers"].values())
    assert not any("without_handshake_lines" in h["filters"] for h in loud["handlers"].values())
