"""A property-based fuzz of the API from its own OpenAPI document (schemathesis), against the run's real API
process and stores, signed in as a real user: no generated request, valid or deliberately invalid, gets a 5xx,
and every success conforms to the schema the document declares for it.

Three passes over every operation: valid requests (positive), deliberately invalid ones (negative), and valid ones
whose path ids are real (the caller's own post and photo, another real user, a used hashtag): random ids stop at
the id check, real ones reach the stores, the visibility rules and the event SDK.

Bounded on purpose: a handful of examples per operation and mode, a fixed seed (the same requests every run, so
a failure reproduces), a per-example deadline, no shrinking (the first failing example is reported as it was
sent). It is a net for crashes — unvalidated input reaching a store, a decoder or the event SDK — not a proof of
authorisation, which is the table's job (tests/integration/test_authorisation_table.py).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from photostream.settings import Settings
from tests.integration.conftest import Process
from tests.integration.photos import upload_photo
from tests.integration.test_accounts import bearer, login, register
from tests.integration.waiting import wait_for

SEED = 20250611
EXAMPLES = 10
#: (name, generation mode, whether path ids are real)
PASSES = (("positive", GenerationMode.POSITIVE, False), ("negative", GenerationMode.NEGATIVE, False),
          ("real ids", GenerationMode.POSITIVE, True))
#: logging out would revoke the token every later request is signed with (its cells are in the table)
SKIPPED = {"POST /api/v1/auth/logout"}


@pytest.fixture(scope="module")
def signed_in(api_url: str, worker: Process) -> dict[str, str]:
    with httpx.Client(base_url=api_url + "/api/v1", timeout=60) as client:
        return bearer(login(client, register(client)["username"]))


@pytest.fixture(scope="module")
def real_ids(api_url: str, settings: Settings, signed_in: dict[str, str]) -> dict[str, str]:
    """Path values that exist: the fuzzing user's own post (projected) and its photo, another user, its tag."""
    with httpx.Client(base_url=api_url + "/api/v1", timeout=60) as client:
        me = client.get("/users/me", headers=signed_in).json()["id"]
        image = upload_photo(client, settings, me)
        tag = f"fuzz{uuid.uuid4().hex[:8]}"
        posted = client.post("/posts", headers=signed_in, json={"image_ids": [image], "caption": f"#{tag}"})
        assert posted.status_code == 202, posted.text
        post = posted.json()["id"]
        wait_for(lambda: client.get(f"/posts/{post}", headers=signed_in).status_code, lambda s: s == 200, 60,
                 "the fuzzing user's post")
        return {"user_id": str(register(client)["id"]), "post_id": post, "image_id": image, "tag": tag}


def _fuzz(operation: Any, mode: GenerationMode, path: dict[str, str] | None, api_url: str, headers: dict[str, str],
          sent: list[str]) -> None:
    @seed(SEED)
    @hypothesis_settings(max_examples=EXAMPLES, deadline=timedelta(seconds=15), database=None, derandomize=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
    def run(case: Any) -> None:
        response = case.call(base_url=api_url, headers=headers, timeout=15, allow_redirects=False)
        sent.append(f"{case.method} {case.formatted_path} -> {response.status_code}")
        case.validate_response(response, checks=[not_a_server_error])
        if 200 <= response.status_code < 300 or response.status_code == 422:  # what the document declares
            case.validate_response(response, checks=[response_schema_conformance, content_type_conformance])

    run()


def test_generated_requests_to_every_operation_get_no_server_error(api_url: str, signed_in: dict[str, str],
                                                                   real_ids: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(api_url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzed = [op for op in operations if op.label not in SKIPPED]
    assert len(fuzzed) >= 50, [op.label for op in operations]
    failures: list[str] = []
    sent: list[str] = []
    unnegatable: list[str] = []
    for operation in fuzzed:
        names = [p.name for p in operation.path_parameters]
        for label, mode, real in PASSES:
            if real and not set(names) & real_ids.keys():
                continue
            path = {name: real_ids[name] for name in names if name in real_ids} if real else None
            try:
                _fuzz(operation, mode, path, api_url, signed_in, sent)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request can be generated"
                unnegatable.append(operation.label)  # no parameters or body: nothing to make invalid
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' failures, hypothesis' deadline
                failures.append(f"{operation.label} ({label}): {type(exc).__name__}: {str(exc)[:600]}")
    assert not failures, f"{len(failures)} operations failed:\n" + "\n\n".join(failures)
    # every operation was called, in both modes unless it takes no input at all (the health probes)
    assert len(sent) >= len(fuzzed) * 2 - len(unnegatable), sent
    assert set(unnegatable) <= {"GET /healthz", "GET /readyz", "GET /metrics"}, unnegatable
