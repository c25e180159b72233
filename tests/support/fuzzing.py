"""Fuzzing a running service over its OpenAPI document with schemathesis, as an outsider would.

Every operation gets valid and invalid requests; an answer must never be a 5xx or a dropped connection, and
must match what the document says (status, content type, headers, body schema). Failures are collected over all
operations so that one run reports them all.
"""

from __future__ import annotations

import contextlib
from typing import Any

import hypothesis
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_MODE = 10  # per operation and mode: a few hundred requests per service


def fuzz(base_url: str, headers: dict[str, str] | None = None, skip: frozenset[str] = frozenset()) -> list[str]:
    """What went wrong, one line per operation and mode ("METHOD /path mode: failure"); empty when all held.

    `skip` names operations ("METHOD /path") that must not be fuzzed (e.g. one that replays the broker's
    dead letters: it works, but has effects outside the service under test)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", headers=dict(headers or {}))
    failures: list[str] = []
    with requests.Session() as session:
        for found in schema.get_all_operations():
            operation = found.ok()
            label = f"{operation.method.upper()} {operation.path}"
            if label in skip:
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                error = _run(operation, mode, base_url, session, headers or {})
                if error:
                    failures.append(f"{label} {mode.value}: {error}")
    return failures


def _run(
    operation: Any, mode: GenerationMode, base_url: str, session: requests.Session, headers: dict[str, str]
) -> str:
    """The first failure of `operation` in `mode`, else "". Failures are recorded here rather than raised, so
    hypothesis never replays a case (a replay against a service whose state moved on is not the same case)."""
    failures: list[str] = []

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        if failures:
            return
        try:
            case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=CHECKS, timeout=60)
        except Exception as exc:  # schemathesis reports failures as a group of them
            failures.append(f"{type(exc).__name__}: {str(exc)[:2000]}")

    with contextlib.suppress(hypothesis.errors.Unsatisfiable):  # nothing invalid to send (no parameters at all)
        call()
    return failures[0] if failures else ""
