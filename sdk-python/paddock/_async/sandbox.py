"""A sandbox: ``AsyncSandbox.create()`` and what hangs off it."""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

from ..types import ExposedPort, SandboxInfo, SnapshotInfo
from .code import AsyncCodeInterpreter
from .docker import AsyncDocker
from .filesystem import AsyncFilesystem
from .http import AsyncHttp
from .process import AsyncProcesses
from .snapshots import AsyncSandboxNetworking, snapshot_name
from .terminal import AsyncPty


def _id(sandbox_id: str) -> str:
    return quote(sandbox_id, safe="")


class AsyncSandbox:
    """A sandbox: an isolated container under gVisor (default) or runc, with an agent inside.

    Used as a context manager it is terminated on exit.

    Example::

        async with await AsyncSandbox.create(runtime="runc", timeout_seconds=600) as sb:
            await sb.fs.write_file("/tmp/hello.txt", "hi\\n")
            out = await (await sb.process.exec("cat", "/tmp/hello.txt")).output()
    """

    def __init__(self, sandbox_id: str, http: AsyncHttp) -> None:
        self.id = sandbox_id
        self._http = http
        base = f"/v1/sandboxes/{_id(sandbox_id)}"
        self._base = base
        #: Processes: exec, run, run_code, attach, list, kill.
        self.process = AsyncProcesses(http, f"{base}/processes")
        #: Files: upload, download, read, write, stat, list, find, replace.
        self.fs = AsyncFilesystem(http, f"{base}/files")
        #: Docker and Compose, in a sandbox created with ``docker=True``.
        self.docker = AsyncDocker(http, f"{base}/docker")
        #: Terminals: create (a program on a pseudo-terminal), connect.
        self.pty = AsyncPty(http, f"{base}/processes")
        #: Code contexts that keep their state: run, create_context, list_contexts, restart, close.
        self.code = AsyncCodeInterpreter(http, f"{base}/code")
        #: The egress policy: get, update.
        self.network = AsyncSandboxNetworking(http, f"{base}/network")

    @classmethod
    async def create(
        cls,
        *,
        image: str | None = None,
        runtime: str | None = None,
        env: Mapping[str, str] | None = None,
        cpu: float | None = None,
        memory_mib: int | None = None,
        pids_limit: int | None = None,
        disk_mib: int | None = None,
        timeout_seconds: int | None = None,
        labels: Mapping[str, str] | None = None,
        docker: bool | None = None,
        network: Mapping[str, Any] | None = None,
        auto_resume: bool | None = None,
        snapshot: str | None = None,
        url: str | None = None,
        token: str | None = None,
    ) -> AsyncSandbox:
        """Creates a sandbox and returns once its agent answers. Options left out take the
        daemon's defaults: image busybox, runtime runsc, 1 cpu, 512 MiB, 1024 pids, 300 s.
        ``network`` is the egress policy, e.g. ``{"egress": "allow", "allow": ["pypi.org"]}``.

        Example::

            sb = await AsyncSandbox.create(image="debian", labels={"team": "ml"})
        """
        request = {
            key: value
            for key, value in {
                "image": image,
                "runtime": runtime,
                "env": dict(env) if env is not None else None,
                "cpu": cpu,
                "memoryMiB": memory_mib,
                "pidsLimit": pids_limit,
                "diskMiB": disk_mib,
                "timeoutSeconds": timeout_seconds,
                "labels": dict(labels) if labels is not None else None,
                "docker": docker,
                "network": dict(network) if network is not None else None,
                "autoResume": auto_resume,
                "snapshot": snapshot,
            }.items()
            if value is not None
        }
        http = AsyncHttp(url, token)
        try:
            info: SandboxInfo = await http.json("POST", "/v1/sandboxes", SandboxInfo, json=request)
        except BaseException:
            await http.aclose()
            raise
        return cls(info.id, http)

    @classmethod
    async def connect(cls, sandbox_id: str, *, url: str | None = None, token: str | None = None) -> AsyncSandbox:
        """Attaches to an existing sandbox by id, resuming it if it is paused; raises
        SandboxNotFoundError if there is none.

        Example::

            sb = await AsyncSandbox.connect("sb_0123456789abcdef")
        """
        http = AsyncHttp(url, token)
        try:
            info: SandboxInfo = await http.json("GET", f"/v1/sandboxes/{_id(sandbox_id)}", SandboxInfo)
            sandbox = cls(info.id, http)
            if info.state in ("paused", "pausing"):
                await sandbox.resume()
        except BaseException:
            await http.aclose()
            raise
        return sandbox

    @staticmethod
    async def get_info(sandbox_id: str, *, url: str | None = None, token: str | None = None) -> SandboxInfo:
        """A sandbox's description by id, without connecting to it (connecting resumes it)."""
        http = AsyncHttp(url, token)
        try:
            info: SandboxInfo = await http.json("GET", f"/v1/sandboxes/{_id(sandbox_id)}", SandboxInfo)
            return info
        finally:
            await http.aclose()

    @staticmethod
    async def terminate_by_id(sandbox_id: str, *, url: str | None = None, token: str | None = None) -> SandboxInfo:
        """Terminates a sandbox by id without connecting to it."""
        http = AsyncHttp(url, token)
        try:
            info: SandboxInfo = await http.json("DELETE", f"/v1/sandboxes/{_id(sandbox_id)}", SandboxInfo)
            return info
        finally:
            await http.aclose()

    async def info(self) -> SandboxInfo:
        """The sandbox's current description: state, limits, labels, times.

        Example::

            info = await sb.info()
            print(info.state, info.expires_at)
        """
        info: SandboxInfo = await self._http.json("GET", self._base, SandboxInfo)
        return info

    async def set_timeout(self, seconds: int) -> SandboxInfo:
        """Ends the sandbox ``seconds`` from now instead of when it was due (1 s to 7 days)."""
        info: SandboxInfo = await self._http.json("POST", f"{self._base}/timeout", SandboxInfo, json={"timeoutSeconds": seconds})
        return info

    async def health(self) -> dict[str, Any]:
        """Asks the agent inside the sandbox to answer; its version."""
        value: dict[str, Any] = await self._http.json("GET", f"{self._base}/health")
        return value

    async def pause(self) -> SandboxInfo:
        """Pauses the sandbox: no CPU, its timeout stands still (see the TypeScript SDK)."""
        info: SandboxInfo = await self._http.json("POST", f"{self._base}/pause", SandboxInfo)
        return info

    async def resume(self) -> SandboxInfo:
        """Resumes a paused sandbox; returns once its agent answers."""
        info: SandboxInfo = await self._http.json("POST", f"{self._base}/resume", SandboxInfo)
        return info

    async def snapshot(self, name: str | None = None) -> SnapshotInfo:
        """Snapshots the sandbox (it pauses for that moment); start copies with
        ``AsyncSandbox.create(snapshot=name_or_id)``. Under runsc without a network the snapshot
        holds memory and files, under runc the files only; a runsc sandbox with a network cannot
        be snapshotted.

        Example::

            await sb.snapshot("numpy-ready")
            copy = await AsyncSandbox.create(snapshot="numpy-ready")
        """
        json = {} if name is None else {"name": snapshot_name(name)}
        info: SnapshotInfo = await self._http.json("POST", f"{self._base}/snapshots", SnapshotInfo, json=json)
        return info

    async def expose_port(self, port: int, *, host_port: int | None = None, auth: bool | None = None) -> ExposedPort:
        """Makes a port of the sandbox's own loopback reachable from the host, through the
        agent. Exposing an exposed port again returns it as it is.

        Example::

            await sb.process.exec("python3", "-m", "http.server", "8000", background=True)
            await sb.process.wait_for_port(8000)
            exposed = await sb.expose_port(8000)
            print(exposed.url)
        """
        json: dict[str, Any] = {"port": port}
        if host_port is not None:
            json["hostPort"] = host_port
        if auth is not None:
            json["auth"] = auth
        exposed: ExposedPort = await self._http.json("POST", f"{self._base}/ports", ExposedPort, json=json)
        return exposed

    async def ports(self) -> list[ExposedPort]:
        """The sandbox's exposed ports."""
        return await self._http.parsed_list("GET", f"{self._base}/ports", "ports", ExposedPort)

    async def unexpose_port(self, port: int) -> None:
        """Stops exposing a port: new connections are refused."""
        response = await self._http.send("DELETE", f"{self._base}/ports/{int(port)}")
        await response.aclose()

    async def terminate(self) -> None:
        """Terminates the sandbox and removes everything it had. Terminating twice is harmless.
        The client's connections stay open for ``info()``; ``aclose()`` closes them."""
        await self._http.json("DELETE", self._base, SandboxInfo)

    async def aclose(self) -> None:
        """Closes this client's connections; the sandbox lives on."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.terminate()
        finally:
            await self.aclose()

    @staticmethod
    async def list(*, state: str | None = None, labels: Mapping[str, str] | None = None, url: str | None = None, token: str | None = None) -> list[SandboxInfo]:
        """Lists sandboxes, optionally only those in one state or carrying all some labels.

        Example::

            mine = await AsyncSandbox.list(state="running", labels={"team": "ml"})
        """
        http = AsyncHttp(url, token)
        try:
            query = {"state": state, "label": [f"{k}={v}" for k, v in (labels or {}).items()]}
            return await http.parsed_list("GET", "/v1/sandboxes", "sandboxes", SandboxInfo, query=query)
        finally:
            await http.aclose()
