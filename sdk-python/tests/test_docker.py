"""sb.docker against a real daemon: load an image, a compose stack up, ps, logs, down. On runsc
only, the default runtime: Docker under runc needs the operator's opt-in (docker.test.ts covers
both runtimes for the TypeScript SDK, through the same daemon routes)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

import paddock
from paddock import AsyncSandbox, Sandbox

IMAGES = os.environ.get("PADDOCK_TEST_IMAGES_DIR", "/var/tmp/paddock-test-images")

STACK = """
services:
  web:
    image: busybox:local
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 18080 -h /www"]
  client:
    image: busybox:local
    depends_on: [web]
    command: ["sh", "-c", "for i in $$(seq 1 60); do wget -q -O - http://web:18080/index.html && break; sleep 0.5; done; exec sleep 3600"]
"""


def test_compose_up_ps_logs_down(daemon: dict[str, str], tmp_path: Path) -> None:
    rootfs = os.path.join(IMAGES, "busybox", "rootfs")
    if not os.path.isdir(rootfs):
        pytest.skip(f"no busybox rootfs in {IMAGES}")
    tarball = tmp_path / "busybox.tar"
    subprocess.run(["tar", "-cf", str(tarball), "-C", rootfs, "."], check=True)
    with Sandbox.create(runtime="runsc", docker=True, memory_mib=2048, timeout_seconds=600) as sb:
        loaded = sb.docker.load(tarball, import_as="busybox:local")
        assert isinstance(loaded, paddock.CommandOutput) and loaded.stdout.startswith("sha256:")
        sb.fs.write_file("/app/compose.yml", STACK)
        up = sb.docker.compose_up("/app/compose.yml", project_name="py")
        assert sorted(up.services) == ["client", "web"]
        states = {c.get("Service"): c.get("State") for c in sb.docker.compose_ps("/app/compose.yml", project_name="py")}
        assert states == {"web": "running", "client": "running"}
        deadline = time.monotonic() + 30
        logs = ""
        while "hello-from-web" not in logs and time.monotonic() < deadline:
            logs = sb.docker.compose_logs("/app/compose.yml", project_name="py", service="client")
        assert "hello-from-web" in logs
        sb.docker.compose_down("/app/compose.yml", project_name="py")
        assert sb.docker.compose_ps("/app/compose.yml", project_name="py") == []
        with pytest.raises(paddock.FileNotFoundInSandboxError):
            sb.docker.compose_up("/app/missing.yml")

        async def main() -> None:
            asb = await AsyncSandbox.connect(sb.id)
            try:
                assert any("busybox" in str(i.get("Repository")) for i in await asb.docker.images())
            finally:
                await asb.aclose()

        asyncio.run(main())
