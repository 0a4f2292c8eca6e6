# Generated from paddock/_async by scripts/unasync.py: edit that, not this.
"""A sandbox: ``Sandbox.create()`` and what hangs off it."""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

from ..types import ExposedPort, SandboxInfo, SnapshotInfo
from .code import CodeInterpreter
from .docker import Docker
from .filesystem import Filesystem
from .http import Http
from .process import Processes
from .snapshots import SandboxNetworking, snapshot_name
from .terminal import Pty


def _id(sandbox_id: str) -> str:
    return quote(sandbox_id, safe="")


class Sandbox:
    """A sandbox: an isolated container under gVisor (default) or runc, with an agent inside.

    Used as a context manager it is terminated on exit.

    Example::

        with Sandbox.create(runtime="runc", timeout_seconds=600) as sb:
            sb.fs.write_file("/tmp/hello.txt", "hi\\n")
            out = (sb.process.exec("cat", "/tmp/hello.txt")).output()
    """

    def __init__(self, sandbox_id: str, http: Http) -> None:
        self.id = sandbox_id
        self._http = http
        base = f"/v1/sandboxes/{_id(sandbox_id)}"
        self._base = base
        #: Processes: exec, run, run_code, attach, list, kill.
        self.process = Processes(http, f"{base}/processes")
        #: Files: upload, download, read, write, stat, list, find, replace.
        self.fs = Filesystem(http, f"{base}/files")
        #: Docker and Compose, in a sandbox created with ``docker=True``.
        self.docker = Docker(http, f"{base}/docker")
        #: Terminals: create (a program on a pseudo-terminal), connect.
        self.pty = Pty(http, f"{base}/processes")
        #: Code contexts that keep their state: run, create_context, list_contexts, restart, close.
        self.code = CodeInterpreter(http, f"{base}/code")
        #: The egress policy: get, update.
        self.network = SandboxNetworking(http, f"{base}/network")

    @classmethod
    def create(
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
    ) -> Sandbox:
        """Creates a sandbox and returns once its agent answers. Options left out take the
        daemon's defaults: image busybox, runtime runsc, 1 cpu, 512 MiB, 1024 pids, 300 s.
        ``network`` is the egress policy, e.g. ``{"egress": "allow", "allow": ["pypi.org"]}``.

        Example::

            sb = Sandbox.create(image="debian", labels={"team": "ml"})
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
        http = Http(url, token)
        try:
            info: SandboxInfo = http.json("POST", "/v1/sandboxes", SandboxInfo, json=request)
        except BaseException:
            http.close()
            raise
        return cls(info.id, http)

    @classmethod
    def connect(cls, sandbox_id: str, *, url: str | None = None, token: str | None = None) -> Sandbox:
        """Attaches to an existing sandbox by id, resuming it if it is paused; raises
        SandboxNotFoundError if there is none.

        Example::

            sb = Sandbox.connect("sb_0123456789abcdef")
        """
        http = Http(url, token)
        try:
            info: SandboxInfo = http.json("GET", f"/v1/sandboxes/{_id(sandbox_id)}", SandboxInfo)
            sandbox = cls(info.id, http)
            if info.state in ("paused", "pausing"):
                sandbox.resume()
        except BaseException:
            http.close()
            raise
        return sandbox

    @staticmethod
    def get_info(sandbox_id: str, *, url: str | None = None, token: str | None = None) -> SandboxInfo:
        """A sandbox's description by id, without connecting to it (connecting resumes it)."""
        http = Http(url, token)
        try:
            info: SandboxInfo = http.json("GET", f"/v1/sandboxes/{_id(sandbox_id)}", SandboxInfo)
            return info
        finally:
            http.close()

    @staticmethod
    def terminate_by_id(sandbox_id: str, *, url: str | None = None, token: str | None = None) -> SandboxInfo:
        """Terminates a sandbox by id without connecting to it."""
        http = Http(url, token)
        try:
            info: SandboxInfo = http.json("DELETE", f"/v1/sandboxes/{_id(sandbox_id)}", SandboxInfo)
            return info
        finally:
            http.close()

    def info(self) -> SandboxInfo:
        """The sandbox's current description: state, limits, labels, times.

        Example::

            info = sb.info()
            print(info.state, info.expires_at)
        """
        info: SandboxInfo = self._http.json("GET", self._base, SandboxInfo)
        return info

    def set_timeout(self, seconds: int) -> SandboxInfo:
        """Ends the sandbox ``seconds`` from now instead of when it was due (1 s to 7 days)."""
        info: SandboxInfo = self._http.json("POST", f"{self._base}/timeout", SandboxInfo, json={"timeoutSeconds": seconds})
        return info

    def health(self) -> dict[str, Any]:
        """Asks the agent inside the sandbox to answer; its version."""
        value: dict[str, Any] = self._http.json("GET", f"{self._base}/health")
        return value

    def pause(self) -> SandboxInfo:
        """Pauses the sandbox: no CPU, its timeout stands still (see the TypeScript SDK)."""
        info: SandboxInfo = self._http.json("POST", f"{self._base}/pause", SandboxInfo)
        return info

    def resume(self) -> SandboxInfo:
        """Resumes a paused sandbox; returns once its agent answers."""
        info: SandboxInfo = self._http.json("POST", f"{self._base}/resume", SandboxInfo)
        return info

    def snapshot(self, name: str | None = None) -> SnapshotInfo:
        """Snapshots the sandbox (it pauses for that moment); start copies with
        ``Sandbox.create(snapshot=name_or_id)``. Under runsc without a network the snapshot
        holds memory and files, under runc the files only; a runsc sandbox with a network cannot
        be snapshotted.

        Example::

            sb.snapshot("numpy-ready")
            copy = Sandbox.create(snapshot="numpy-ready")
        """
        json = {} if name is None else {"name": snapshot_name(name)}
        info: SnapshotInfo = self._http.json("POST", f"{self._base}/snapshots", SnapshotInfo, json=json)
        return info

    def expose_port(self, port: int, *, host_port: int | None = None, auth: bool | None = None) -> ExposedPort:
        """Makes a port of the sandbox's own loopback reachable from the host, through the
        agent. Exposing an exposed port again returns it as it is.

        Example::

            sb.process.exec("python3", "-m", "http.server", "8000", background=True)
            sb.process.wait_for_port(8000)
            exposed = sb.expose_port(8000)
            print(exposed.url)
        """
        json: dict[str, Any] = {"port": port}
        if host_port is not None:
            json["hostPort"] = host_port
        if auth is not None:
            json["auth"] = auth
        exposed: ExposedPort = self._http.json("POST", f"{self._base}/ports", ExposedPort, json=json)
        return exposed

    def ports(self) -> list[ExposedPort]:
        """The sandbox's exposed ports."""
        return self._http.parsed_list("GET", f"{self._base}/ports", "ports", ExposedPort)

    def unexpose_port(self, port: int) -> None:
        """Stops exposing a port: new connections are refused."""
        response = self._http.send("DELETE", f"{self._base}/ports/{int(port)}")
        response.close()

    def terminate(self) -> None:
        """Terminates the sandbox and removes everything it had. Terminating twice is harmless.
        The client's connections stay open for ``info()``; ``close()`` closes them."""
        self._http.json("DELETE", self._base, SandboxInfo)

    def close(self) -> None:
        """Closes this client's connections; the sandbox lives on."""
        self._http.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.terminate()
        finally:
            self.close()

    @staticmethod
    def list(*, state: str | None = None, labels: Mapping[str, str] | None = None, url: str | None = None, token: str | None = None) -> list[SandboxInfo]:
        """Lists sandboxes, optionally only those in one state or carrying all some labels.

        Example::

            mine = Sandbox.list(state="running", labels={"team": "ml"})
        """
        http = Http(url, token)
        try:
            query = {"state": state, "label": [f"{k}={v}" for k, v in (labels or {}).items()]}
            return http.parsed_list("GET", "/v1/sandboxes", "sandboxes", SandboxInfo, query=query)
        finally:
            http.close()
