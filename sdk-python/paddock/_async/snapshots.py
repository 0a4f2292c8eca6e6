"""Snapshots taken with ``sb.snapshot()`` (``AsyncSnapshots``) and a sandbox's egress policy
(``sb.network``), as the TypeScript SDK's ``Snapshots`` and ``sandbox.network``."""

from __future__ import annotations

import re
from typing import Any, Iterable

from ..errors import local_error
from ..types import SandboxNetwork, SnapshotInfo
from .http import AsyncHttp

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_ID = re.compile(r"^snap_[a-z0-9]{1,32}$")


def snapshot_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise local_error(
            "invalid_request",
            f"invalid request: name: snapshot names are 1-63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit; got {name!r}",
        )
    return name


def _ref(ref: str) -> str:
    if not isinstance(ref, str) or not (_ID.match(ref) or _NAME.match(ref)):
        raise local_error("invalid_request", f"invalid request: snapshot: a snapshot is named by its id (snap_…) or its name, got {ref!r}")
    return f"/v1/snapshots/{ref}"


class AsyncSnapshots:
    """Snapshots taken with ``sb.snapshot()``: list, look up and delete them. A key sees its
    own only. Start a sandbox from one with ``AsyncSandbox.create(snapshot=...)``.

    Example::

        async with AsyncSnapshots() as snapshots:
            for s in await snapshots.list():
                print(s.name or s.id, s.size_bytes)
            await snapshots.delete("prepared")
    """

    def __init__(self, *, url: str | None = None, token: str | None = None) -> None:
        self._http = AsyncHttp(url, token)

    async def list(self) -> list[SnapshotInfo]:
        return await self._http.parsed_list("GET", "/v1/snapshots", "snapshots", SnapshotInfo)

    async def get(self, ref: str) -> SnapshotInfo:
        """By id or name; raises SnapshotNotFoundError if there is none."""
        info: SnapshotInfo = await self._http.json("GET", _ref(ref), SnapshotInfo)
        return info

    async def delete(self, ref: str) -> SnapshotInfo:
        """Deletes a snapshot; sandboxes started from it keep running."""
        info: SnapshotInfo = await self._http.json("DELETE", _ref(ref), SnapshotInfo)
        return info

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSnapshots:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncSandboxNetworking:
    """A sandbox's egress policy: ``sb.network``. A sandbox has no network unless created with
    one (``network={"egress": "all"}``); its policy can then change while it runs.

    Example::

        sb = await AsyncSandbox.create(network={"egress": "allowlist", "allow": ["pypi.org"]})
        await sb.network.update(egress="allowlist", allow=["pypi.org", "*.pythonhosted.org"])
        print((await sb.network.get()).address)
    """

    def __init__(self, http: AsyncHttp, base: str) -> None:
        self._http = http
        self._base = base

    async def get(self) -> SandboxNetwork:
        """The policy and the sandbox's address (None with egress "none" from create)."""
        network: SandboxNetwork = await self._http.json("GET", self._base, SandboxNetwork)
        return network

    async def update(self, *, egress: str, allow: Iterable[str] | None = None, deny: Iterable[str] | None = None) -> SandboxNetwork:
        """Replaces the policy (entries: IP addresses, CIDRs, domains, ``*.domain`` wildcards;
        deny wins over allow). New connections follow it within a second; open ones may go on."""
        body: dict[str, Any] = {"egress": egress}
        if allow is not None:
            body["allow"] = list(allow)
        if deny is not None:
            body["deny"] = list(deny)
        network: SandboxNetwork = await self._http.json("PUT", self._base, SandboxNetwork, json=body)
        return network
