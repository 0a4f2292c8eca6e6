"""Sandbox lifecycle, ports, images, keys and errors against a real daemon."""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest

import paddock
from paddock import AsyncImages, AsyncKeys, AsyncSandbox, Images, Keys, Sandbox


def test_create_with_options_info_list_connect_and_context_manager(daemon: dict[str, str]) -> None:
    label = uuid.uuid4().hex[:12]
    with Sandbox.create(
        runtime="runc",
        image="busybox",
        env={"FROM_CREATE": "yes"},
        cpu=0.5,
        memory_mib=256,
        pids_limit=64,
        disk_mib=512,
        timeout_seconds=120,
        labels={"run": label},
        network={"egress": "none"},
        auto_resume=True,
    ) as sb:
        info = sb.info()
        assert (info.runtime, info.image, info.state, info.cpu, info.memory_mib, info.pids_limit, info.disk_mib) == (
            "runc", "busybox", "running", 0.5, 256, 64, 512,
        )
        assert info.labels == {"run": label} and info.timeout_seconds == 120 and info.auto_resume is True
        assert sb.process.exec("sh", "-c", "echo $FROM_CREATE").output().stdout == "yes\n"
        assert [s.id for s in Sandbox.list(labels={"run": label})] == [sb.id]
        assert [s.id for s in Sandbox.list(state="running", labels={"run": label})] == [sb.id]
        assert Sandbox.get_info(sb.id).id == sb.id
        again = Sandbox.connect(sb.id)
        assert again.info().id == sb.id
        again.close()
        assert sb.set_timeout(600).timeout_seconds == 600
    assert Sandbox.get_info(sb.id).state in ("terminating", "terminated")
    sb.close()
    Sandbox.terminate_by_id(sb.id)  # twice is harmless


def test_async_create_and_context_manager(daemon: dict[str, str]) -> None:
    async def main() -> str:
        async with await AsyncSandbox.create(runtime="runc", labels={"flavour": "async"}) as sb:
            assert (await sb.info()).state == "running"
            assert sb.id in [s.id for s in await AsyncSandbox.list(labels={"flavour": "async"})]
            return sb.id

    sandbox_id = asyncio.run(main())
    assert Sandbox.get_info(sandbox_id).state in ("terminating", "terminated")


def test_expose_ports_and_unexpose(sb: Sandbox) -> None:
    sb.fs.write_file("/www/index.html", "hello from the sandbox\n")
    sb.process.exec("httpd", "-f", "-p", "127.0.0.1:8000", "-h", "/www", background=True)
    sb.process.wait_for_port(8000, timeout=10)
    exposed = sb.expose_port(8000)
    assert exposed.port == 8000 and exposed.url.startswith("http://")
    headers = {"x-paddock-port-token": exposed.token} if exposed.token else {}
    assert httpx.get(f"{exposed.url}/index.html", headers=headers).text == "hello from the sandbox\n"
    assert [p.port for p in sb.ports()] == [8000]
    sb.unexpose_port(8000)
    assert sb.ports() == []
    with pytest.raises(paddock.DeadlineError):
        sb.process.wait_for_port(8001, timeout=0.3)


def test_errors_are_typed_with_the_daemons_message(daemon: dict[str, str]) -> None:
    with pytest.raises(paddock.SandboxNotFoundError) as caught:
        Sandbox.connect("sb_doesnotexist0000")
    assert caught.value.status == 404 and caught.value.code == "sandbox_not_found"
    with pytest.raises(paddock.InvalidRequestError, match="cpu"):
        Sandbox.create(cpu=0.01)
    with pytest.raises(paddock.InvalidRequestError, match="runtime"):
        Sandbox.create(runtime="kata")
    with pytest.raises(paddock.UnauthorizedError, match="the token argument"):
        Sandbox.list(token="not-a-token")
    with pytest.raises(paddock.NetworkError, match="cannot reach the Paddock daemon"):
        Sandbox.list(url="http://127.0.0.1:9")


def test_images(daemon: dict[str, str]) -> None:
    with Images() as images:
        names = [i.name for i in images.list()]
        assert "busybox" in names
        busybox = images.get("busybox")
        assert busybox.source == "builtin" and busybox.ready
        phases: list[str] = []
        assert images.build("busybox", on_progress=phases.append).name == "busybox"
        with pytest.raises(paddock.ImageNotFoundError):
            images.get("no-such-image")

    async def main() -> None:
        async with AsyncImages() as images:
            assert (await images.get("busybox")).ready

    asyncio.run(main())


def test_keys_scope_sandboxes(daemon: dict[str, str]) -> None:
    name = f"py-{uuid.uuid4().hex[:8]}"
    with Keys() as keys:
        created = keys.create(name)
        assert created.name == name and created.key
        assert name in [k.name for k in keys.list()]
        # A key sees only the sandboxes it created: none yet.
        assert Sandbox.list(token=created.key) == []
        assert keys.revoke(name).revoked_at is not None
        with pytest.raises(paddock.UnauthorizedError):
            Sandbox.list(token=created.key)
        with pytest.raises(paddock.InvalidRequestError):
            keys.create("Bad Name")

    async def main() -> None:
        async with AsyncKeys() as keys:
            assert name in [k.name for k in await keys.list()]

    asyncio.run(main())


def test_environment_settings_are_read(daemon: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    monkeypatch.delenv("PADDOCK_TOKEN")
    monkeypatch.setenv("PADDOCK_DATA_DIR", str(tmp_path))
    with open(os.path.join(tmp_path, "token"), "w") as f:
        f.write(daemon["token"] + "\n")
    assert isinstance(Sandbox.list(), list)
