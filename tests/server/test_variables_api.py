"""`/api/variables` over a real app on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import ApiClient, unique


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _name(prefix: str = "var") -> str:
    return unique(prefix).replace("-", "_")


def test_variable_lifecycle_by_name_and_id(api: ApiClient) -> None:
    name = _name()
    value = {"rows": [1, 2, 3], "ok": True, "ratio": 0.5, "none": None}
    created = _ok(
        api.post("/api/variables/", json={"name": name, "value": value, "tags": ["a"]}), 201
    )
    assert (created["name"], created["value"], created["tags"]) == (name, value, ["a"])
    assert api.post("/api/variables/", json={"name": name, "value": 1}).status_code == 409
    assert _ok(api.get(f"/api/variables/name/{name}"))["value"] == value
    assert _ok(api.get(f"/api/variables/{created['id']}"))["name"] == name

    assert (
        api.request("PATCH", f"/api/variables/name/{name}", json={"value": "x"}).status_code == 204
    )
    assert _ok(api.get(f"/api/variables/name/{name}"))["value"] == "x"
    patch = api.request("PATCH", f"/api/variables/{created['id']}", json={"tags": ["b", "c"]})
    assert patch.status_code == 204
    after = _ok(api.get(f"/api/variables/name/{name}"))
    assert (after["value"], after["tags"]) == ("x", ["b", "c"])

    assert api.delete(f"/api/variables/name/{name}").status_code == 204
    assert api.get(f"/api/variables/name/{name}").status_code == 404
    assert api.delete(f"/api/variables/name/{name}").status_code == 404


def test_every_json_type_round_trips(api: ApiClient) -> None:
    for value in ["text", 42, 3.25, True, False, None, [1, "a", None], {"k": {"n": [1]}}]:
        name = _name()
        _ok(api.post("/api/variables/", json={"name": name, "value": value}), 201)
        assert _ok(api.get(f"/api/variables/name/{name}"))["value"] == value


def test_names_and_sizes_follow_prefect(api: ApiClient) -> None:
    for bad in ["Upper", "has-dash", "has space", "x" * 256, ""]:
        answer = api.post("/api/variables/", json={"name": bad, "value": 1})
        assert answer.status_code == 422, bad
        assert answer.json()["detail"][0]["field"] == "name"
    assert api.post("/api/variables/", json={"name": "x" * 255, "value": 1}).status_code in (
        201,
        409,
    )
    too_big = api.post("/api/variables/", json={"name": _name(), "value": "y" * 5000})
    assert too_big.status_code == 422 and "5000" in too_big.text
    fits = api.post("/api/variables/", json={"name": _name(), "value": "y" * 4998})
    assert fits.status_code == 201  # 5,000 characters once quoted


def test_filter_and_count(api: ApiClient) -> None:
    prefix = _name("flt")
    for index, tags in enumerate([["etl", "prod"], ["etl"], ["prod"]]):
        _ok(
            api.post(
                "/api/variables/", json={"name": f"{prefix}_{index}", "value": index, "tags": tags}
            ),
            201,
        )
    like = {"variables": {"name": {"like_": prefix}}}
    assert [v["name"] for v in _ok(api.post("/api/variables/filter", json=like))] == [
        f"{prefix}_0",
        f"{prefix}_1",
        f"{prefix}_2",
    ]
    both = {"variables": {"name": {"like_": prefix}, "tags": {"all_": ["etl", "prod"]}}}
    assert [v["value"] for v in _ok(api.post("/api/variables/filter", json=both))] == [0]
    assert _ok(api.post("/api/variables/count", json=like)) == 3
    desc = {**like, "sort": "NAME_DESC", "limit": 2, "offset": 1}
    assert [v["value"] for v in _ok(api.post("/api/variables/filter", json=desc))] == [1, 0]
    assert api.post("/api/variables/filter", json={"variables": {"nope": 1}}).status_code == 422
