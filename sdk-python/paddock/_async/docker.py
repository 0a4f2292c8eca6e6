"""Docker and Compose in a sandbox created with ``docker=True``: ``sb.docker``."""

from __future__ import annotations

import json as jsonlib
from typing import Any, Mapping, cast

from .._local import UploadSource, check_path, source_chunks
from ..errors import InvalidResponseError, local_error
from ..types import CommandOutput, ComposeResult, DockerLoadRefResult
from .http import AsyncHttp


def parse_json_lines(text: str) -> list[dict[str, Any]]:
    """Docker prints one JSON object per line for ``--format json``; some versions an array."""
    trimmed = text.strip()
    if not trimmed:
        return []
    try:
        values = jsonlib.loads(trimmed) if trimmed.startswith("[") else [jsonlib.loads(line) for line in trimmed.splitlines() if line.strip()]
    except ValueError as err:
        raise InvalidResponseError("invalid_response", f"docker printed a line that is not JSON: {trimmed[:200]}", 200) from err
    values = values if isinstance(values, list) else [values]
    for value in values:
        if not isinstance(value, dict):
            raise InvalidResponseError("invalid_response", f"docker printed JSON that is not an object: {str(value)[:200]}", 200)
    return cast("list[dict[str, Any]]", values)


def _check(what: str, out: CommandOutput) -> CommandOutput:
    """A docker command that failed is an invalid_request, its output in the details, as the
    daemon reports a failed compose up."""
    if out.exit_code != 0:
        raise local_error(
            "invalid_request",
            f"{what} failed (exit {out.exit_code}): {out.stderr.strip() or out.stdout.strip()}",
            {"exitCode": out.exit_code, "stdout": out.stdout, "stderr": out.stderr},
        )
    return out


class AsyncDocker:
    """Docker in a sandbox created with ``docker=True``: ``sb.docker``.

    Example::

        await sb.fs.write_file("/app/compose.yml", COMPOSE)
        stack = await sb.docker.compose_up("/app/compose.yml")
        print(await sb.docker.compose_ps("/app/compose.yml"))
        await sb.docker.compose_down("/app/compose.yml")
    """

    def __init__(self, http: AsyncHttp, base: str) -> None:
        self._http = http
        self._base = base

    async def compose_up(
        self,
        path: str,
        *,
        project_name: str | None = None,
        env: Mapping[str, str] | None = None,
        build: bool = False,
        detach: bool = True,
        host_network: bool | None = None,
    ) -> ComposeResult:
        """``docker compose up -d`` of a compose file in the sandbox. Under gVisor (and with
        ``host_network=True``) every service gets host networking and service names map to
        127.0.0.1, so services reach each other by name."""
        json: dict[str, Any] = {"path": check_path(path), "build": build, "detach": detach}
        if project_name is not None:
            json["projectName"] = project_name
        if env is not None:
            json["env"] = dict(env)
        if host_network is not None:
            json["hostNetwork"] = host_network
        result: ComposeResult = await self._http.json("POST", f"{self._base}/compose/up", ComposeResult, json=json)
        return result

    async def _compose(self, op: str, path: str, project_name: str | None, **extra: str | None) -> CommandOutput:
        json: dict[str, Any] = {"path": check_path(path)}
        if project_name is not None:
            json["projectName"] = project_name
        json.update({k: v for k, v in extra.items() if v is not None})
        out: CommandOutput = await self._http.json("POST", f"{self._base}/compose/{op}", CommandOutput, json=json)
        return _check(f"docker compose {op}", out)

    async def compose_down(self, path: str, *, project_name: str | None = None) -> None:
        """``docker compose down``: stops and removes the project's containers."""
        await self._compose("down", path, project_name)

    async def compose_ps(self, path: str, *, project_name: str | None = None) -> list[dict[str, Any]]:
        """The project's containers (``docker compose ps --all``, parsed)."""
        return parse_json_lines((await self._compose("ps", path, project_name)).stdout)

    async def compose_logs(self, path: str, *, project_name: str | None = None, service: str | None = None) -> str:
        """Logs of the project's services, or of one."""
        return (await self._compose("logs", path, project_name, service=service)).stdout

    async def ps(self) -> list[dict[str, Any]]:
        """All containers (``docker ps --all``, parsed)."""
        out: CommandOutput = await self._http.json("GET", f"{self._base}/ps", CommandOutput)
        return parse_json_lines(_check("docker ps", out).stdout)

    async def images(self) -> list[dict[str, Any]]:
        """Images in the sandbox's Docker (parsed)."""
        out: CommandOutput = await self._http.json("GET", f"{self._base}/images", CommandOutput)
        return parse_json_lines(_check("docker images", out).stdout)

    async def run(self, image: str, command: list[str] | None = None, *, env: Mapping[str, str] | None = None) -> CommandOutput:
        """``docker run --rm IMAGE COMMAND...``; the exit code is in the result."""
        json: dict[str, Any] = {"image": image, "command": command or []}
        if env is not None:
            json["env"] = dict(env)
        out: CommandOutput = await self._http.json("POST", f"{self._base}/run", CommandOutput, json=json)
        return out

    async def load(self, archive: UploadSource | None = None, *, ref: str | None = None, import_as: str | None = None) -> CommandOutput | DockerLoadRefResult:
        """Loads an image into the sandbox's Docker: a registry image by ``ref`` (pulled by the
        daemon unless stored), or an archive from here, streamed (``docker load`` of a
        ``docker save`` archive, or ``docker import`` of a rootfs tarball with ``import_as``).

        Example::

            await sb.docker.load("./busybox-rootfs.tar", import_as="busybox:local")
            await sb.docker.load(ref="redis:7-alpine")
        """
        if ref is not None:
            result: DockerLoadRefResult = await self._http.json("POST", f"{self._base}/load", DockerLoadRefResult, query={"ref": ref})
            return result
        if archive is None:
            raise local_error("invalid_request", "invalid request: load: give an archive or ref=")
        chunks, size = source_chunks(archive)
        out: CommandOutput = await self._http.json(
            "PUT", f"{self._base}/load", CommandOutput, query={"importAs": import_as}, content=chunks, content_type="application/x-tar", content_length=size
        )
        return out
