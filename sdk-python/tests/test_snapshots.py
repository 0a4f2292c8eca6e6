"""sb.snapshot, Snapshots and sb.network against a real daemon, on runc and runsc."""

from __future__ import annotations

import uuid

import pytest

import paddock
from paddock import Sandbox, Snapshots


def test_snapshot_list_get_create_from_and_delete(sb: Sandbox, runtime: str) -> None:
    sb.fs.write_file("/root/snapped.txt", runtime)
    name = f"py-{runtime}-{uuid.uuid4().hex[:8]}"
    taken = sb.snapshot(name)
    assert (taken.name, taken.sandbox_id, taken.runtime) == (name, sb.id, runtime)
    assert taken.kind == ("memory" if runtime == "runsc" else "files") and taken.size_bytes > 0
    with Snapshots() as snapshots:
        try:
            assert snapshots.get(name).id == snapshots.get(taken.id).id == taken.id
            assert taken.id in [s.id for s in snapshots.list()]
            with Sandbox.create(snapshot=name, timeout_seconds=120, labels={"suite": "python-sdk"}) as copy:
                assert copy.info().snapshot == taken.id
                assert copy.fs.read_file("/root/snapped.txt") == runtime.encode()
        finally:
            assert snapshots.delete(taken.id).id == taken.id
        with pytest.raises(paddock.SnapshotNotFoundError):
            snapshots.get(name)
        with pytest.raises(paddock.InvalidRequestError):
            snapshots.get("Not A Name")


def test_network_policy_of_a_sandbox_without_one(sb: Sandbox) -> None:
    network = sb.network.get()
    assert (network.egress, network.address) == ("none", None)
