# Generated from paddock/_async by scripts/unasync.py: edit that, not this.
"""The daemon's image store and API keys: ``Images``, ``Keys``."""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote

import httpx

from .._local import UploadSource, source_chunks
from ..errors import ERROR_CLASSES, ERROR_STATUS, InvalidResponseError
from ..types import CreatedKey, ImageInfo, KeyInfo, parse
from .http import Http, ndjson


def _image(name: str) -> str:
    return f"/v1/images/{quote(name, safe='')}"


class Images:
    """The daemon's image store.

    Example::

        with Images() as images:
            images.build("debian")  # a built-in image, now instead of on first use
            print([i.name for i in images.list()])
    """

    def __init__(self, *, url: str | None = None, token: str | None = None) -> None:
        self._http = Http(url, token)

    def list(self) -> list[ImageInfo]:
        """Every image: stored ones and built-ins not built yet (``ready=False``)."""
        return self._http.parsed_list("GET", "/v1/images", "images", ImageInfo)

    def get(self, name: str) -> ImageInfo:
        info: ImageInfo = self._http.json("GET", _image(name), ImageInfo)
        return info

    def build(self, name: str, *, on_progress: Callable[[str], None] | None = None) -> ImageInfo:
        """Builds a built-in image (busybox, debian, docker) now, reporting each phase."""
        response = self._http.send("POST", f"{_image(name)}/build")
        return self._follow(response, f"the build stream of image {name}", lambda p: on_progress and on_progress(str(p.get("message"))))

    def pull(self, reference: str, *, platform: str | None = None, on_progress: Callable[[dict[str, Any]], None] | None = None) -> ImageInfo:
        """Pulls an image from a registry into the daemon's store; progress events carry the
        layers' bytes so far and in all.

        Example::

            image = images.pull("python:3.12-slim", on_progress=print)
        """
        json: dict[str, Any] = {"reference": reference}
        if platform is not None:
            json["platform"] = platform
        response = self._http.send("POST", "/v1/images/pull", json=json)
        return self._follow(response, f"the pull stream of {reference}", lambda p: on_progress and on_progress(p))

    def import_image(self, name: str, tar: UploadSource) -> ImageInfo:
        """Imports an image from a tar (a root filesystem, a ``docker save`` archive or an OCI
        layout; plain or gzip), streamed."""
        chunks, size = source_chunks(tar)
        info: ImageInfo = self._http.json(
            "PUT", _image(name), ImageInfo, content=chunks, content_type="application/x-tar", content_length=size
        )
        return info

    def remove(self, name: str) -> None:
        """Removes an image; its files go once no sandbox uses it."""
        response = self._http.send("DELETE", _image(name))
        response.close()

    def _follow(self, response: httpx.Response, what: str, on_progress: Callable[[dict[str, Any]], object]) -> ImageInfo:
        """Reads an image job's NDJSON stream to its done (the image) or error (raised)."""
        for line in ndjson(response, what, from_sandbox=False):
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

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Images:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Keys:
    """API keys (needs the admin token). Each key sees and touches only the sandboxes it
    created.

    Example::

        with Keys() as keys:
            created = keys.create("ci")
        sb = Sandbox.create(token=created.key)
    """

    def __init__(self, *, url: str | None = None, token: str | None = None) -> None:
        self._http = Http(url, token)

    def create(self, name: str) -> CreatedKey:
        """Creates a key; its secret (``key``) is shown only this once."""
        created: CreatedKey = self._http.json("POST", "/v1/keys", CreatedKey, json={"name": name})
        return created

    def list(self) -> list[KeyInfo]:
        return self._http.parsed_list("GET", "/v1/keys", "keys", KeyInfo)

    def revoke(self, name: str) -> KeyInfo:
        """Revokes a key: it gets 401 from then on."""
        info: KeyInfo = self._http.json("DELETE", f"/v1/keys/{quote(name, safe='')}", KeyInfo)
        return info

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Keys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
