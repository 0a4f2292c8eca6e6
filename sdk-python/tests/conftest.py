"""Fixtures for the tests against a real daemon (PADDOCK_URL and PADDOCK_TOKEN, as
tests/integration/python-sdk.test.ts sets them): one sandbox per runtime for the whole run,
terminated at its end, with its id printed if a test fails."""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from paddock import Sandbox  # noqa: E402

RUNTIMES = ["runc", "runsc"]

_sandboxes: dict[str, Sandbox] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "daemon: needs a running daemon (PADDOCK_URL, PADDOCK_TOKEN)")


@pytest.fixture(scope="session")
def daemon() -> dict[str, str]:
    if not os.environ.get("PADDOCK_URL") or not os.environ.get("PADDOCK_TOKEN"):
        pytest.skip("PADDOCK_URL and PADDOCK_TOKEN name no daemon")
    return {"url": os.environ["PADDOCK_URL"], "token": os.environ["PADDOCK_TOKEN"]}


@pytest.fixture(scope="session", params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def _session_sandboxes(daemon: dict[str, str]) -> Iterator[dict[str, Sandbox]]:
    yield _sandboxes
    for sandbox in _sandboxes.values():
        sandbox.__exit__(None, None, None)


@pytest.fixture
def sb(runtime: str, _session_sandboxes: dict[str, Sandbox], request: pytest.FixtureRequest) -> Sandbox:
    """The runtime's shared sandbox (2 GiB of memory: runsc charges its overlay's file data to
    it, and the large transfer goes through it)."""
    if runtime not in _sandboxes:
        _sandboxes[runtime] = Sandbox.create(runtime=runtime, memory_mib=2048, timeout_seconds=900, labels={"suite": "python-sdk"})
    sandbox = _sandboxes[runtime]
    request.node.user_properties.append(("sandbox", sandbox.id))
    return sandbox


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        ids = [value for key, value in item.user_properties if key == "sandbox"]
        if ids:
            report.sections.append(("sandbox", f"sandbox {', '.join(map(str, ids))}"))


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def peak_rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def reset_peak_rss() -> None:
    """Resets VmHWM to the current RSS (Linux: 5 into clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
