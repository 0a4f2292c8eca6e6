# Generated from paddock/_async by scripts/unasync.py: edit that, not this.
"""Snapshots taken with ``sb.snapshot()`` (``Snapshots``) and a sandbox's egress policy
(``sb.network``), as the TypeScript SDK's ``Snapshots`` and ``sandbox.network``."""

from __future__ import annotations

import re
from typing import Any, Iterable

from ..errors import local_error
from ..types import SandboxNetwork, SnapshotInfo
from .http import Http

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


class Snapshots:
    """Snapshots taken with ``sb.snapshot()``: list, look up and delete them. A key sees its
    own only. Start a sandbox from one with ``Sandbox.create(snapshot=...)``.

    Example::

        with Snapshots() as snapshots:
            for s in snapshots.list():
                print(s.name or s.id, s.size_bytes)
            snapshots.delete("prepared")
    """

    def __init__(self, *, url: str | None = None, token: str | None = None) -> None:
        self._http = Http(url, token)

    def list(self) -> list[SnapshotInfo]:
        return self._http.parsed_list("GET", "/v1/snapshots", "snapshots", SnapshotInfo)

    def get(self, ref: str) -> SnapshotInfo:
        """By id or name; raises SnapshotNotFoundError if there is none."""
        info: SnapshotInfo = self._http.json("GET", _ref(ref), SnapshotInfo)
        return info

    def delete(self, ref: str) -> SnapshotInfo:
        """Deletes a snapshot; sandboxes started from it keep running."""
        info: SnapshotInfo = self._http.json("DELETE", _ref(ref), SnapshotInfo)
        return info

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Snapshots:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SandboxNetworking:
    """A sandbox's egress policy: ``sb.network``. A sandbox has no network unless created with
    one (``network={"egress": "all"}``); its policy can then change while it runs.

    Example::

        sb = Sandbox.create(network={"egress": "allowlist", "allow": ["pypi.org"]})
        sb.network.update(egress="allowlist", allow=["pypi.org", "*.pythonhosted.org"])
        print((sb.network.get()).address)
    """

    def __init__(self, http: Http, base: str) -> None:
        self._http = http
        self._base = base

    def get(self) -> SandboxNetwork:
        """The policy and the sandbox's address (None with egress "none" from create)."""
        network: SandboxNetwork = self._http.json("GET", self._base, SandboxNetwork)
        return network

    def update(self, *, egress: str, allow: Iterable[str] | None = None, deny: Iterable[str] | None = None) -> SandboxNetwork:
        """Replaces the policy (entries: IP addresses, CIDRs, domains, ``*.domain`` wildcards;
        deny wins over allow). New connections follow it within a second; open ones may go on."""
        body: dict[str, Any] = {"egress": egress}
        if allow is not None:
            body["allow"] = list(allow)
        if deny is not None:
            body["deny"] = list(deny)
        network: SandboxNetwork = self._http.json("PUT", self._base, SandboxNetwork, json=body)
        return network
