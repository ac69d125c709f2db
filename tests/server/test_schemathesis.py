"""A bounded property-based run over the OpenAPI spec: no input makes the server 500.

Schemathesis generates valid and invalid requests for every operation (wrong types,
missing fields, odd strings, NUL bytes, huge numbers) and sends them to the app over
its ASGI interface, on a real SQLite file. ~20 operations x 12 examples x 2 modes
keeps the run to a few hundred requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.server.conftest import make_settings

MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from schemathesis.python.asgi import shutdown_lifespans

    from vibepiper.server import create_app

    path = tmp_path_factory.mktemp("schemathesis") / "vibepiper.db"
    # the plugin starts and stops the app's lifespan around every test: without the
    # background loops, each stop only closes the pool (the loops' own tests cover them)
    app = create_app(make_settings(f"sqlite+aiosqlite:///{path}", server_services=False))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        allow_x00=True,
    )
    yield schema
    shutdown_lifespans()  # closes the app's connection pool before the module ends


def _operations() -> list[tuple[str, GenerationMode]]:
    """(`METHOD /path`, mode) for every operation in the spec (read without starting the app).

    Operations taking no input have no invalid requests to generate.
    """
    from vibepiper.server import create_app

    spec = create_app(make_settings("sqlite+aiosqlite:///unused.db")).openapi()
    cases = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "text/event-stream" in str(operation.get("responses", {})):
                continue  # answers forever by design (Server-Sent Events)
            label = f"{method.upper()} {path}"
            cases.append((label, GenerationMode.POSITIVE))
            if operation.get("parameters") or operation.get("requestBody"):
                cases.append((label, GenerationMode.NEGATIVE))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize(("label", "mode"), _operations())
def test_no_request_gets_a_server_error(api_schema: Any, label: str, mode: GenerationMode) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        if isinstance(case.body, dict) and isinstance(case.body.get("wait_seconds"), int | float):
            # a claim's long poll may legitimately wait up to a minute: keep it short here
            case.body["wait_seconds"] = min(case.body["wait_seconds"], 0.2)
        elif isinstance(case.body, dict) and case.path.endswith("/states/wait"):
            case.body["wait_seconds"] = 0.2  # its default is a 10 s long poll
        response = case.call()
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: "
            f"{response.text[:500]}\n{case.as_curl_command()}"
        )

    call()
