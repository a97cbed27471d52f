"""Property-based calls from the OpenAPI spec: no input may cause a server error.

Runs in-process over ASGI, a bounded number of examples per operation, derandomised
so a failure reproduces.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.api.conftest import AUTH, TOKEN
from wattwise.api import create_app

EXAMPLES = 25


@pytest.fixture(autouse=True)
def _answer_testserver(wattwise_home: Path) -> None:
    """schemathesis's ASGI client sends ``Host: testserver``: configure it as a served name."""
    (wattwise_home / "config.toml").write_text('api_allowed_hosts = ["testserver"]\n')


@pytest.fixture(params=["job-board", "engine-queue"])
def any_app(
    request: pytest.FixtureRequest, app: FastAPI, wattwise_home: Path, store_url: str
) -> FastAPI:
    """The app over an in-memory job board, and over the engine's queue in the store."""
    if request.param == "job-board":
        return app
    return create_app(store_url, home=wattwise_home, token=TOKEN, monitor_power=False)


def test_no_server_errors(any_app: FastAPI) -> None:
    app = any_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    assert {"/api/v1/runs", "/api/v1/jobs", "/api/v1/jobs/{job_id}/cancel", "/metrics"} <= paths
    calls: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            # With the token, so generated requests reach the handlers, not only the guard.
            case.call_and_validate(
                headers=AUTH, checks=[not_a_server_error, response_schema_conformance]
            )
            calls.append(1)

        call()
    assert len(calls) > 2 * len(operations)
