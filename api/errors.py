"""One error shape for every failure: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import logging
from typing import Any

import botocore.exceptions
import cassandra
import cassandra.cluster
import cassandra.protocol
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.s3_lane import S3BusyError
from producers.publisher import PublishError, PublishTimeoutError
from producers.validation import EventValidationError

logger = logging.getLogger(__name__)

#: failures that mean a data store is down, overloaded or unreachable: the request may succeed later, so they
#: answer 503 with ``Retry-After``, never 500 (anything else unexpected is a 500 without internals)
STORE_OUTAGES: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # refused, reset, pool exhausted, still loading
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    cassandra.cluster.NoHostAvailable,
    cassandra.OperationTimedOut,
    cassandra.Unavailable,
    cassandra.Timeout,  # ReadTimeout, WriteTimeout
    cassandra.CoordinationFailure,  # ReadFailure, WriteFailure
    cassandra.protocol.OverloadedErrorMessage,
    cassandra.protocol.IsBootstrappingErrorMessage,
    botocore.exceptions.ConnectionError,  # S3 endpoint unreachable, or not answering a connect in time
    botocore.exceptions.HTTPClientError,  # S3 not answering a request in time, or closing the connection mid-answer
    S3BusyError,  # S3 so slow that every thread calling it stayed busy (api.s3_lane)
)
OUTAGE_RETRY_AFTER_S = 5


class ApiError(Exception):
    """Raise from a handler to answer with ``status`` and the standard error body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


#: FastAPI's detail when a body could not be read as JSON at all (``fastapi.routing``)
BODY_UNPARSEABLE = "There was an error parsing the body"


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


def unhandled_response(exc: Exception, method: str, path: str) -> JSONResponse:
    """The answer to an exception no handler took: 503 for a store outage, else 500. Either way the client
    learns nothing of the internals; the server log gets the details."""
    if isinstance(exc, STORE_OUTAGES):
        logger.warning("store outage on %s %s: %s: %s", method, path, type(exc).__name__, exc)
        return JSONResponse(error_body("unavailable", "a data store is unavailable; retry later"), 503,
                            headers={"Retry-After": str(OUTAGE_RETRY_AFTER_S)})
    logger.error("unhandled error on %s %s", method, path, exc_info=exc)
    return JSONResponse(error_body("internal", "internal error"), 500)


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    if not parts and loc:
        return str(loc[0])  # the whole body (or query) is missing or malformed
    return ".".join(str(p) for p in parts if not p.isdigit()) or None


#: the error shape as the OpenAPI document declares it (``components.schemas.Error``)
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["code", "message"], "additionalProperties": False,
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}},
    }},
}


#: the security scheme name of the routes where a token is optional (``api.deps.optional_user``)
OPTIONAL_BEARER = "OptionalBearer"


def document_error_shape(app: FastAPI) -> None:
    """The OpenAPI document says what the API really answers on a refused request: FastAPI declares its own
    ``{detail: [...]}`` body for 422, but the handlers below answer ``{error: {code, message, field?}}``.
    Every 422 is rewritten to the ``Error`` schema, so generated clients (and the fuzz) read errors right."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        for schemas in ("HTTPValidationError", "ValidationError"):
            document["components"]["schemas"].pop(schemas, None)
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        schemes = document["components"].get("securitySchemes", {})
        schemes.pop(OPTIONAL_BEARER, None)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                invalid = responses.get("422")
                if invalid is not None:
                    invalid["description"] = "Invalid request: the field is named in error.field"
                    invalid["content"] = error
                # every refusal has the one shape (it was undocumented: generated clients read no error)
                responses.setdefault("4XX", {"description": "Refused: error.code says why (401 unauthorized, 403 "
                                            "forbidden, 404 not_found, 409 conflict, 429 rate_limited with "
                                            "Retry-After, …)", "content": error})
                responses.setdefault("503", {"description": "A store or the broker is unavailable: retry after "
                                             "Retry-After", "content": error})
                security = operation.get("security", [])
                if any(OPTIONAL_BEARER in requirement for requirement in security):
                    # a public read: anonymous, or with a token (listed as required, clients always sent one)
                    operation["security"] = [{}, {"HTTPBearer": []}]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into the standard error shape."""
    document_error_shape(app)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.field), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": "invalid"}
        # a body that is not JSON at all: its loc ends in a character position, which names no field
        field = "body" if first.get("type") == "json_invalid" else _field_of(tuple(first.get("loc", ())))
        code = "unknown_field" if first.get("type") == "extra_forbidden" else "invalid"
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return JSONResponse(error_body(code, message, field), 422)

    @app.exception_handler(EventValidationError)
    async def invalid_event(_: Request, exc: EventValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid", str(exc), exc.field), 422)

    @app.exception_handler(PublishTimeoutError)
    async def broker_timeout(_: Request, exc: PublishTimeoutError) -> JSONResponse:
        return JSONResponse(error_body("unavailable", "the event log did not acknowledge in time; retry"),
                            503, headers={"Retry-After": "5"})

    @app.exception_handler(PublishError)
    async def broker_refused(_: Request, exc: PublishError) -> JSONResponse:
        return JSONResponse(error_body("unavailable", "the event log refused the write; retry"),
                            503, headers={"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == BODY_UNPARSEABLE:
            # bytes that are no UTF-8, or JSON nested past the parser's depth: FastAPI's own 400, where every
            # other body that is not JSON is a 422 naming ``body``
            return JSONResponse(error_body("invalid", "body: not valid JSON (UTF-8, not nested too deeply)",
                                           "body"), 422)
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "too_large",
                429: "rate_limited"}.get(exc.status_code, "error")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (RFC 9110 §15.5.6). Starlette names only the first
    route that matched the path, so ``DELETE /posts/{id}`` answered ``Allow: GET`` though a DELETE route exists."""
    scope = {**request.scope, "method": "GET"}
    methods: set[str] = set()
    routes = list(request.app.router.routes)
    while routes:
        route = routes.pop()
        if hasattr(route, "effective_candidates"):  # FastAPI ≥ 0.120 keeps an included router as one branch
            routes.extend(route.effective_candidates())
        elif route.matches(scope)[0] is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    if "GET" in methods:  # api.middleware answers HEAD with the GET of the path
        methods.add("HEAD")
    return ", ".join(sorted(methods))
