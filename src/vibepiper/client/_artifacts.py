"""Artifacts in the client (`/api/artifacts`), with Prefect's method names, async and
blocking, over one set of call descriptions. Writes made inside runs go through the run
store instead (batched with the run's other records); these read, and write directly."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

import httpx

from vibepiper.client._layer import Call, _dump, _int, _list, _model, _none, _raw
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import artifacts as wire

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan

T = TypeVar("T")


def create_artifact(artifact: wire.ArtifactCreate) -> Call[wire.ArtifactRead]:
    return Call("POST", "artifacts/", _model(wire.ArtifactRead), _dump(artifact))


def read_artifact(artifact_id: uuid.UUID) -> Call[wire.ArtifactRead]:
    return Call("GET", f"artifacts/{artifact_id}", _model(wire.ArtifactRead))


def read_artifacts(query: wire.ArtifactQuery | None = None) -> Call[list[wire.ArtifactRead]]:
    return Call("POST", "artifacts/filter", _list(wire.ArtifactRead), _dump(query) or {})


def count_artifacts(query: wire.ArtifactQuery | None = None) -> Call[int]:
    return Call("POST", "artifacts/count", _int, _dump(query) or {})


def read_latest_artifacts(
    query: wire.ArtifactCollectionQuery | None = None,
) -> Call[list[wire.ArtifactCollection]]:
    body = _dump(query) or {}
    return Call("POST", "artifacts/latest/filter", _list(wire.ArtifactCollection), body)


def latest_artifact(key: str) -> Call[wire.ArtifactRead]:
    return Call("GET", f"artifacts/{quote(key, safe='')}/latest", _model(wire.ArtifactRead))


def artifact_versions(key: str, limit: int = 100) -> Call[list[wire.ArtifactRead]]:
    path = f"artifacts/key/{quote(key, safe='')}/versions?limit={limit}"
    return Call("GET", path, _list(wire.ArtifactRead))


def update_artifact(artifact_id: uuid.UUID, update: wire.ArtifactUpdate) -> Call[None]:
    return Call("PATCH", f"artifacts/{artifact_id}", _none, _dump(update))


def delete_artifact(artifact_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"artifacts/{artifact_id}", _none)


def delete_artifact_key(key: str) -> Call[int]:
    return Call("DELETE", f"artifacts/key/{quote(key, safe='')}", _int)


def artifact_content(artifact_id: uuid.UUID) -> Call[httpx.Response]:
    return Call("GET", f"artifacts/{artifact_id}/content", _raw)


def _or_none(call: Call[wire.ArtifactRead]) -> Plan[wire.ArtifactRead | None]:
    """The answer of `call`, None when the server says there is no such artifact."""
    try:
        found: wire.ArtifactRead = yield call
    except ObjectNotFound:
        return None
    return found


def _versions_or_empty(key: str, limit: int) -> Plan[list[wire.ArtifactRead]]:
    try:
        found: list[wire.ArtifactRead] = yield artifact_versions(key, limit)
    except ObjectNotFound:
        return []
    return found


class Artifacts:
    """The async artifact methods of `VibePiperClient`."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    async def create_artifact(self, artifact: wire.ArtifactCreate) -> wire.ArtifactRead:
        return await self._send(create_artifact(artifact))

    async def read_artifact(self, artifact_id: uuid.UUID | str) -> wire.ArtifactRead | None:
        return await self._run(_or_none(read_artifact(uuid.UUID(str(artifact_id)))))

    async def read_artifacts(
        self, query: wire.ArtifactQuery | None = None
    ) -> list[wire.ArtifactRead]:
        return await self._send(read_artifacts(query))

    async def count_artifacts(self, query: wire.ArtifactQuery | None = None) -> int:
        return await self._send(count_artifacts(query))

    async def read_latest_artifacts(
        self, query: wire.ArtifactCollectionQuery | None = None
    ) -> list[wire.ArtifactCollection]:
        return await self._send(read_latest_artifacts(query))

    async def read_latest_artifact(self, key: str) -> wire.ArtifactRead | None:
        """The latest version of `key`; None when there is no such key."""
        return await self._run(_or_none(latest_artifact(key)))

    async def read_artifact_versions(self, key: str, limit: int = 100) -> list[wire.ArtifactRead]:
        """The versions of `key`, newest first (empty when there is no such key)."""
        return await self._run(_versions_or_empty(key, limit))

    async def update_artifact(self, artifact_id: uuid.UUID, artifact: wire.ArtifactUpdate) -> None:
        await self._send(update_artifact(artifact_id, artifact))

    async def delete_artifact(self, artifact_id: uuid.UUID) -> None:
        await self._send(delete_artifact(artifact_id))

    async def delete_artifact_key(self, key: str) -> int:
        """Delete every version of `key`; how many there were."""
        return await self._send(delete_artifact_key(key))

    async def read_artifact_content(self, artifact_id: uuid.UUID) -> bytes:
        """The bytes of a stored file or image artifact."""
        return (await self._send(artifact_content(artifact_id))).content


class SyncArtifacts:
    """The blocking artifact methods (the same as `Artifacts`)."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    def create_artifact(self, artifact: wire.ArtifactCreate) -> wire.ArtifactRead:
        return self._send(create_artifact(artifact))

    def read_artifact(self, artifact_id: uuid.UUID | str) -> wire.ArtifactRead | None:
        return self._run(_or_none(read_artifact(uuid.UUID(str(artifact_id)))))

    def read_artifacts(self, query: wire.ArtifactQuery | None = None) -> list[wire.ArtifactRead]:
        return self._send(read_artifacts(query))

    def count_artifacts(self, query: wire.ArtifactQuery | None = None) -> int:
        return self._send(count_artifacts(query))

    def read_latest_artifacts(
        self, query: wire.ArtifactCollectionQuery | None = None
    ) -> list[wire.ArtifactCollection]:
        return self._send(read_latest_artifacts(query))

    def read_latest_artifact(self, key: str) -> wire.ArtifactRead | None:
        return self._run(_or_none(latest_artifact(key)))

    def read_artifact_versions(self, key: str, limit: int = 100) -> list[wire.ArtifactRead]:
        return self._run(_versions_or_empty(key, limit))

    def update_artifact(self, artifact_id: uuid.UUID, artifact: wire.ArtifactUpdate) -> None:
        self._send(update_artifact(artifact_id, artifact))

    def delete_artifact(self, artifact_id: uuid.UUID) -> None:
        self._send(delete_artifact(artifact_id))

    def delete_artifact_key(self, key: str) -> int:
        return self._send(delete_artifact_key(key))

    def read_artifact_content(self, artifact_id: uuid.UUID) -> bytes:
        return self._send(artifact_content(artifact_id)).content
