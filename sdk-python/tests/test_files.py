"""sb.fs against a real daemon, on runc and runsc."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from pathlib import Path

import pytest

import paddock
from paddock import AsyncSandbox, BatchUpload, Sandbox


def test_seed_scenario_upload_stat_and_cat(sb: Sandbox, tmp_path: Path) -> None:
    # The bug Paddock exists for: under runsc a file put into the rootfs from the host is
    # invisible inside; through the agent it is what every process sees.
    local = tmp_path / "seed.txt"
    local.write_text("seen from inside\n")
    entry = sb.fs.upload_file(local, "/work/seed.txt")
    assert (entry.type, entry.size, entry.mode) == ("file", 17, 0o644)
    assert sb.fs.stat_file("/work/seed.txt").size == 17
    out = sb.process.exec("cat", "/work/seed.txt").output()
    assert (out.exit_code, out.stdout) == (0, "seen from inside\n")


def test_upload_sources_path_bytes_file_object_and_chunks(sb: Sandbox, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    sb.fs.upload_file(b"#!/bin/sh\necho hi\n", "/work/bin/hi", mode=0o755, on_progress=lambda n, t: seen.append((n, t)))
    assert seen[-1] == (18, 18)
    assert sb.process.exec("/work/bin/hi").output().stdout == "hi\n"
    sb.fs.upload_file(io.BytesIO(b"from a file object"), "/work/fileobj.txt")
    sb.fs.upload_file(iter([b"one ", b"two ", b"three"]), "/work/chunks.txt")
    assert sb.fs.read_file("/work/fileobj.txt") == b"from a file object"
    assert sb.fs.read_text("/work/chunks.txt") == "one two three"
    sb.fs.upload_file(b"", "/work/empty")
    assert sb.fs.stat_file("/work/empty").size == 0


def test_write_read_list_rename_chmod_make_dir_delete(sb: Sandbox) -> None:
    sb.fs.make_dir("/work/tree/a/b", mode=0o700)
    assert sb.fs.stat_file("/work/tree/a/b").mode == 0o700
    sb.fs.write_file("/work/tree/a/one.txt", "1\n")
    sb.fs.write_file("/work/tree/a/two.bin", bytes(range(256)))
    assert sb.fs.read_file("/work/tree/a/two.bin") == bytes(range(256))
    assert sorted(e.name for e in sb.fs.list_files("/work/tree/a")) == ["b", "one.txt", "two.bin"]
    moved = sb.fs.rename("/work/tree/a/one.txt", "/work/tree/one.txt")
    assert moved.path == "/work/tree/one.txt"
    assert sb.fs.chmod("/work/tree/one.txt", 0o600).mode == 0o600
    with pytest.raises(paddock.ConflictError):
        sb.fs.delete_file("/work/tree/a")
    sb.fs.delete_file("/work/tree/a", recursive=True)
    with pytest.raises(paddock.FileNotFoundInSandboxError) as caught:
        sb.fs.stat_file("/work/tree/a")
    assert caught.value.status == 404 and "/work/tree/a" in str(caught.value)


def test_find_and_replace_in_files(sb: Sandbox) -> None:
    sb.fs.upload_files({"/work/src/a.py": b"DEBUG = True\nx = 1\n", "/work/src/b.txt": b"DEBUG = True\n"})
    matches = sb.fs.find_in_files("/work/src", "DEBUG", glob="**/*.py")
    assert [(m.file, m.line, m.text) for m in matches] == [("/work/src/a.py", 1, "DEBUG = True")]
    changed = sb.fs.replace_in_files(["/work/src/a.py", "/work/src/b.txt"], "True", "False")
    assert sorted(changed) == ["/work/src/a.py", "/work/src/b.txt"]
    assert sb.fs.read_text("/work/src/a.py") == "DEBUG = False\nx = 1\n"


def test_upload_files_upload_and_download_directory(sb: Sandbox, tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_bytes(b"#!/bin/sh\n")
    results = sb.fs.upload_files([BatchUpload("/work/batch/a.txt", b"a"), BatchUpload("/work/batch/run.sh", str(script), 0o755)])
    assert [(r.path, r.ok) for r in results] == [("/work/batch/a.txt", True), ("/work/batch/run.sh", True)]
    assert sb.fs.stat_file("/work/batch/run.sh").mode == 0o755

    src = tmp_path / "src"
    (src / "deep" / "er").mkdir(parents=True)
    (src / "deep" / "er" / "file.bin").write_bytes(os.urandom(300_000))
    (src / "top.txt").write_text("top\n")
    os.symlink("top.txt", src / "link")
    assert all(r.ok for r in sb.fs.upload_directory(src, "/work/updir"))
    assert sb.fs.stat_file("/work/updir/link").symlink_target == "top.txt"
    out = tmp_path / "out"
    assert sb.fs.download_directory("/work/updir", out) == 5
    assert (out / "deep" / "er" / "file.bin").read_bytes() == (src / "deep" / "er" / "file.bin").read_bytes()
    assert os.readlink(out / "link") == "top.txt"


def test_download_file_to_a_path_and_a_file_object(sb: Sandbox, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    sb.fs.upload_file(data, "/work/dl.bin")
    sb.fs.download_file("/work/dl.bin", tmp_path / "dl.bin")
    assert (tmp_path / "dl.bin").read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["dl.bin"]  # no temporary left behind
    sink = io.BytesIO()
    sb.fs.download_file("/work/dl.bin", sink)
    assert hashlib.sha256(sink.getvalue()).digest() == hashlib.sha256(data).digest()


def test_file_errors(sb: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(paddock.FileNotFoundInSandboxError):
        sb.fs.read_file("/no/such/file")
    with pytest.raises(paddock.FileNotFoundInSandboxError):
        sb.fs.download_file("/no/such/file", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(paddock.InvalidRequestError, match="cannot read the local file"):
        sb.fs.upload_file(tmp_path / "missing", "/work/x")
    with pytest.raises(paddock.InvalidRequestError, match="absolute"):
        sb.fs.write_file("relative/path", "x")
    with pytest.raises(paddock.InvalidRequestError):
        sb.fs.download_file("/work/dl.bin", tmp_path / "no-dir" / "x")
    with pytest.raises(paddock.PaddockError) as caught:
        sb.fs.write_file("/.paddock/x", "no")
    assert caught.value.code in ("permission_denied", "invalid_request", "forbidden")


def test_async_files(sb: Sandbox, tmp_path: Path) -> None:
    async def main() -> None:
        # connect() to the shared sandbox, closed without `async with`, which would terminate it.
        asb = await AsyncSandbox.connect(sb.id)
        try:
            await asb.fs.write_file("/work/async.txt", "async\n")
            assert (await asb.fs.stat_file("/work/async.txt")).size == 6
            assert await asb.fs.read_file("/work/async.txt") == b"async\n"
            results = await asb.fs.upload_files({f"/work/many/{i:02}.txt": b"x" * i for i in range(20)})
            assert all(r.ok for r in results) and len(results) == 20
            assert await asb.fs.download_directory("/work/many", tmp_path / "many") == 20
            await asb.fs.download_file("/work/async.txt", tmp_path / "async.txt")
            assert [e.name for e in await asb.fs.list_files("/work/many")][:2] == ["00.txt", "01.txt"]
            with pytest.raises(paddock.FileNotFoundInSandboxError):
                await asb.fs.stat_file("/work/nope")
        finally:
            await asb.aclose()

    asyncio.run(main())
    assert (tmp_path / "async.txt").read_text() == "async\n"
    assert (tmp_path / "many" / "19.txt").read_bytes() == b"x" * 19
