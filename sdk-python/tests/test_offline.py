"""Checks that need no daemon: the error registry against the protocol's, the generated sync
client, connection settings, the tar stream."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import paddock
from paddock import _tar
from paddock._config import resolve_config
from paddock._sync.http import Http
from paddock._local import Extractor, pack_entries
from paddock.errors import ERROR_CLASSES, ERROR_STATUS, PaddockError

REPO = Path(__file__).resolve().parents[2]
#: Python's builtins of these names are different things: the SDK's classes are named apart.
RENAMED = {
    "FileNotFoundError": "FileNotFoundInSandboxError",
    "RuntimeError": "SandboxRuntimeError",
    "TimeoutError": "DeadlineError",
}


def test_error_codes_match_the_protocol_registry() -> None:
    codes_ts = (REPO / "packages/protocol/src/codes.ts").read_text()
    body = codes_ts[codes_ts.index("ERROR_STATUS = {") : codes_ts.index("} as const")]
    protocol = {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+): (\d+),", body, re.M)}
    assert len(protocol) > 20
    assert dict(ERROR_STATUS) == protocol
    assert set(ERROR_CLASSES) == set(protocol)


def test_error_classes_match_the_typescript_sdk() -> None:
    errors_ts = (REPO / "packages/sdk/src/errors.ts").read_text()
    table = errors_ts[errors_ts.index("ERROR_CLASSES: Record") :]
    table = table[: table.index("};")]
    ts_classes = {m[1]: m[2] for m in re.finditer(r"^\s+(\w+): (\w+),", table, re.M)}
    parents = dict(re.findall(r"^export class (\w+) extends (\w+)", errors_ts, re.M))
    assert {code: RENAMED.get(name, name) for code, name in ts_classes.items()} == {
        code: cls.__name__ for code, cls in ERROR_CLASSES.items()
    }
    for code, cls in ERROR_CLASSES.items():
        parent = parents[ts_classes[code]]
        assert cls.__mro__[1].__name__ == RENAMED.get(parent, parent), code
        assert getattr(paddock, cls.__name__) is cls


def test_the_sync_client_is_generated_from_the_async_one() -> None:
    script = Path(__file__).resolve().parents[1] / "scripts/unasync.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_connection_settings_in_the_typescript_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PADDOCK_URL", "PADDOCK_TOKEN", "PADDOCK_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PADDOCK_DATA_DIR", str(tmp_path))
    none = resolve_config()
    assert (none.url, none.token) == ("http://127.0.0.1:7423", None)
    assert f"the token file {tmp_path}/token: there is none" in none.token_source
    (tmp_path / "token").write_text("from-file\n")
    assert resolve_config().token == "from-file"
    monkeypatch.setenv("PADDOCK_TOKEN", "from-env")
    monkeypatch.setenv("PADDOCK_URL", "http://host:1/")
    env = resolve_config()
    assert (env.url, env.token, env.token_source) == ("http://host:1", "from-env", "PADDOCK_TOKEN")
    assert resolve_config("http://x:2", "arg").token == "arg"


def test_local_errors_carry_the_daemons_status() -> None:
    with pytest.raises(paddock.InvalidRequestError) as caught:
        paddock.Sandbox("sb_x", Http("http://127.0.0.1:9", "t")).fs.stat_file("relative")
    assert (caught.value.code, caught.value.status) == ("invalid_request", 400)
    assert isinstance(caught.value, PaddockError)


def test_tar_stream_round_trips_through_pythons_tarfile(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / ("long-" * 30 + ".txt")).write_bytes(b"x" * 1000)
    (src / "run.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(src / "run.sh", 0o755)
    os.symlink("run.sh", src / "link")
    from paddock._local import walk_local

    raw = b"".join(pack_entries(walk_local(str(src))))
    names = sorted(m.name for m in tarfile.open(fileobj=io.BytesIO(raw)))
    assert names == sorted(["link", "run.sh", "sub", "sub/" + "long-" * 30 + ".txt"])
    out = tmp_path / "out"
    extractor = Extractor(str(out))
    for at in range(0, len(raw), 777):
        extractor.feed(raw[at : at + 777])
    assert extractor.finish() == 4
    assert (out / "sub" / ("long-" * 30 + ".txt")).read_bytes() == b"x" * 1000
    assert os.stat(out / "run.sh").st_mode & 0o777 == 0o755
    assert os.readlink(out / "link") == "run.sh"


def test_extraction_refuses_entries_outside_the_directory(tmp_path: Path) -> None:
    hostile = _tar.header("../escape", size=1) + b"x" + _tar.padding(1) + _tar.END_OF_ARCHIVE
    with pytest.raises(paddock.InvalidResponseError, match="outside"):
        Extractor(str(tmp_path / "out")).feed(hostile)
    assert not (tmp_path / "escape").exists()
    os.symlink("/etc", tmp_path / "out" / "link")
    through = _tar.header("link/passwd", size=1) + b"x" + _tar.padding(1) + _tar.END_OF_ARCHIVE
    with pytest.raises(paddock.InvalidResponseError, match="symlink"):
        Extractor(str(tmp_path / "out")).feed(through)


def test_a_cut_archive_is_an_invalid_response(tmp_path: Path) -> None:
    cut = _tar.header("a", size=100) + b"x" * 10
    extractor = Extractor(str(tmp_path))
    extractor.feed(cut)
    with pytest.raises(paddock.InvalidResponseError, match="cut short"):
        extractor.finish()
    assert os.listdir(tmp_path) == []


def test_protocol_constants_match() -> None:
    """The literals the SDK shares with the protocol package (the agent's node command line,
    the download size header) are the protocol's."""
    from paddock._async.filesystem import SIZE_HINT_HEADER
    from paddock._async.process import INTERPRETERS

    constants = (REPO / "packages/protocol/src/constants.ts").read_text()
    mount = re.search(r'AGENT_MOUNT = "([^"]+)"', constants)
    loader = re.search(r'AGENT_LOADER_NAME = "([^"]+)"', constants)
    assert mount and loader and "AGENT_RUNTIME_DIR = `${AGENT_MOUNT}/runtime`" in constants
    argv = constants[constants.index("AGENT_NODE_ARGV = [") : constants.index("] as const", constants.index("AGENT_NODE_ARGV"))]
    assert re.findall(r"^\s+(\S+),$", argv, re.M) == [
        "`${AGENT_RUNTIME_DIR}/${AGENT_LOADER_NAME}`", '"--library-path"', "`${AGENT_RUNTIME_DIR}/lib`", "`${AGENT_RUNTIME_DIR}/node`"
    ]
    runtime = f"{mount[1]}/runtime"
    assert INTERPRETERS["node"] == [f"{runtime}/{loader[1]}", "--library-path", f"{runtime}/lib", f"{runtime}/node", "-"]
    files = (REPO / "packages/protocol/src/files.ts").read_text()
    assert f'SIZE_HINT_HEADER = "{SIZE_HINT_HEADER}"' in files
