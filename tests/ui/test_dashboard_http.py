"""What the server answers for the dashboard's paths, through the real app (httpx's ASGI
transport): the security headers, the API docs page, and 404s for paths no file can have."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import ApiClient, make_settings
from vibepiper.server.headers import CONTENT_SECURITY_POLICY
from vibepiper.server.ui import UI_DIRECTORY


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiClient]:
    from vibepiper.server import create_app

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('dashboard-http') / 'vibepiper.db'}"
    client = ApiClient(create_app(make_settings(url, server_services=False)))
    yield client
    client.close()


def built_asset(suffix: str) -> str:
    (asset,) = (UI_DIRECTORY / "assets").glob(f"index-*{suffix}")
    return f"/assets/{asset.name}"


def test_the_policy_allows_only_the_servers_own_files() -> None:
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert "http" not in CONTENT_SECURITY_POLICY  # no third-party origin


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/runs/00000000-0000-0000-0000-000000000000",  # a client route: index.html
        "/api/docs",
        "/swagger/swagger-ui-bundle.js",
        "/swagger/init.js",
        "/assets/missing.js",  # a 404 carries them too
    ],
)
def test_every_dashboard_answer_carries_the_security_headers(app: ApiClient, path: str) -> None:
    answer = app.get(path)
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_built_assets_carry_the_headers_and_their_types(app: ApiClient) -> None:
    for path, content_type in (
        (built_asset(".js"), "text/javascript"),
        (built_asset(".css"), "text/css"),
    ):
        answer = app.get(path)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith(content_type)
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_api_answers_are_not_sniffed_either(app: ApiClient) -> None:
    for answer in (app.get("/api/health"), app.get("/api/no-such-thing")):
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_dashboard_has_no_inline_script() -> None:
    index = (UI_DIRECTORY / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", index, re.DOTALL)
    assert scripts
    for attributes, body in scripts:
        assert " src=" in attributes and body.strip() == ""
    assert "style=" not in index


def test_the_api_docs_page_loads_swagger_ui_from_the_package(app: ApiClient) -> None:
    answer = app.get("/api/docs")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert re.findall(r'<script defer src="([^"]+)"></script>', page) == [
        "/swagger/swagger-ui-bundle.js",
        "/swagger/init.js",
    ]
    assert page.count("<script") == 2  # no inline script
    assert 'href="/swagger/swagger-ui.css"' in page
    assert 'data-openapi-url="/api/openapi.json"' in page
    assert "//" not in page  # no absolute URL: nothing from a CDN
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "init.js", "favicon-32x32.png"):
        asset = app.get(f"/swagger/{name}")
        assert asset.status_code == 200, name
        assert asset.content == (UI_DIRECTORY / "swagger" / name).read_bytes()
    assert app.get("/api/openapi.json").json()["paths"]["/api/flow_runs/filter"]


def test_the_api_docs_page_without_a_build_says_how_to_build(tmp_path: Path) -> None:
    from fastapi import FastAPI

    from vibepiper.server.ui import install_dashboard

    bare = FastAPI(docs_url=None, openapi_url="/api/openapi.json")
    install_dashboard(bare, tmp_path)
    client = ApiClient(bare)
    try:
        answer = client.get("/api/docs")
        assert answer.status_code == 200
        assert "make ui" in answer.text
        assert "/api/openapi.json" in answer.text
    finally:
        client.close()


@pytest.mark.parametrize(
    "path",
    [
        "/%00",
        "/runs/%00",
        "/assets/%00.js",
        "/" + "a" * 5000,
        "/runs/" + "b" * 5000,
        "/" + "/".join(["c" * 200] * 25),  # 5,000 characters in short names
    ],
    ids=["nul", "nul-in-route", "nul-in-asset", "long-name", "long-route", "long-path"],
)
def test_a_path_no_file_can_have_is_a_404_never_a_500(app: ApiClient, path: str) -> None:
    answer = app.get(path)
    assert answer.status_code == 404, answer.text[:200]
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_path_cannot_climb_out_of_the_build(app: ApiClient) -> None:
    for path in (
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
    ):
        answer = app.get(path)
        assert "root:" not in answer.text
        assert answer.status_code in (200, 404)
