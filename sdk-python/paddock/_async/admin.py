"""The daemon's image store and API keys: ``AsyncImages``, ``AsyncKeys``."""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote

import httpx

from .._local import UploadSource, source_chunks
from ..errors import ERROR_CLASSES, ERROR_STATUS, InvalidResponseError
from ..types import CreatedKey, ImageInfo, KeyInfo, parse
from .http import AsyncHttp, ndjson


def _image(name: str) -> str:
    return f"/v1/images/{quote(name, safe='')}"


class AsyncImages:
    """The daemon's image store.

    Example::

        async with AsyncImages() as images:
            await images.build("debian")  # a built-in image, now instead of on first use
            print([i.name for i in await images.list()])
    """

    def __init__(self, *, url: str | None = None, token: str | None = None) -> None:
        self._http = AsyncHttp(url, token)

    async def list(self) -> list[ImageInfo]:
        """Every image: stored ones and built-ins not built yet (``ready=False``)."""
        return await self._http.parsed_list("GET", "/v1/images", "images", ImageInfo)

    async def get(self, name: str) -> ImageInfo:
        info: ImageInfo = await self._http.json("GET", _image(name), ImageInfo)
        return info

    async def build(self, name: str, *, on_progress: Callable[[str], None] | None = None) -> ImageInfo:
        """Builds a built-in image (busybox, debian, docker) now, reporting each phase."""
        response = await self._http.send("POST", f"{_image(name)}/build")
        return await self._follow(response, f"the build stream of image {name}", lambda p: on_progress and on_progress(str(p.get("message"))))

    async def pull(self, reference: str, *, platform: str | None = None, on_progress: Callable[[dict[str, Any]], None] | None = None) -> ImageInfo:
        """Pulls an image from a registry into the daemon's store; progress events carry the
        layers' bytes so far and in all.

        Example::

            image = await images.pull("python:3.12-slim", on_progress=print)
        """
        json: dict[str, Any] = {"reference": reference}
        if platform is not None:
            json["platform"] = platform
        response = await self._http.send("POST", "/v1/images/pull", json=json)
        return await self._follow(response, f"the pull stream of {reference}", lambda p: on_progress and on_progress(p))

    async def import_image(self, name: str, tar: UploadSource) -> ImageInfo:
        """Imports an image from a tar (a root filesystem, a ``docker save`` archive or an OCI
        layout; plain or gzip), streamed."""
        chunks, size = source_chunks(tar)
        info: ImageInfo = await self._http.json(
            "PUT", _image(name), ImageInfo, content=chunks, content_type="application/x-tar", content_length=size
        )
        return info

    async def remove(self, name: str) -> None:
        """Removes an image; its files go once no sandbox uses it."""
        response = await self._http.send("DELETE", _image(name))
        await response.aclose()

    async def _follow(self, response: httpx.Response, what: str, on_progress: Callable[[dict[str, Any]], object]) -> ImageInfo:
        """Reads an image job's NDJSON stream to its done (the image) or error (raised)."""
        async for line in ndjson(response, what, from_sandbox=False):
            kind = line.get("type") if isinstance(line, dict) else None
            if kind == "progress":
                on_progress({k: v for k, v in line.items() if k != "type"})
            elif kind == "done":
                return parse(ImageInfo, line.get("image"), what)
            elif kind == "error":
                error = line.get("error") or {}
                code = error.get("code") if isinstance(error, dict) else None
                if isinstance(code, str) and code in ERROR_CLASSES:
                    raise ERROR_CLASSES[code](code, str(error.get("message")), ERROR_STATUS[code])
                raise InvalidResponseError("invalid_response", f"{what} failed: {str(error)[:200]}", 200)
            elif kind != "log":
                raise InvalidResponseError("invalid_response", f"{what} sent a line that is not Paddock's protocol: {str(line)[:200]}", 200)
        raise InvalidResponseError("invalid_response", f"{what} ended without a result (done or error)", 200)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncImages:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncKeys:
    """API keys (needs the admin token). Each key sees and touches only the sandboxes it
    created.

    Example::

        async with AsyncKeys() as keys:
            created = await keys.create("ci")
        sb = await AsyncSandbox.create(token=created.key)
    """

    def __init__(self, *, url: str | None = None, token: str | None = None) -> None:
        self._http = AsyncHttp(url, token)

    async def create(self, name: str) -> CreatedKey:
        """Creates a key; its secret (``key``) is shown only this once."""
        created: CreatedKey = await self._http.json("POST", "/v1/keys", CreatedKey, json={"name": name})
        return created

    async def list(self) -> list[KeyInfo]:
        return await self._http.parsed_list("GET", "/v1/keys", "keys", KeyInfo)

    async def revoke(self, name: str) -> KeyInfo:
        """Revokes a key: it gets 401 from then on."""
        info: KeyInfo = await self._http.json("DELETE", f"/v1/keys/{quote(name, safe='')}", KeyInfo)
        return info

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncKeys:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
