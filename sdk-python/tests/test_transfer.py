"""A large upload and download: equal SHA-256, and the Python process's memory stays flat
(nothing is held whole). 256 MiB, on runc only: 1 GiB took 60 to 75 s here on a busy 2-core
machine, past the suite's time budget; the streaming code is the same whatever the size or the
runtime (test_files.py covers both runtimes)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from paddock import Sandbox

from conftest import peak_rss_kib, reset_peak_rss

MiB = 1024 * 1024
SIZE = 256 * MiB


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def test_256_mib_upload_and_download_with_equal_sha256_and_flat_rss(sb: Sandbox, runtime: str, tmp_path: Path) -> None:
    if runtime != "runc":
        return
    big = tmp_path / "big.bin"
    digest = hashlib.sha256()
    block = os.urandom(MiB)
    with open(big, "wb") as f:
        for i in range(SIZE // MiB):
            # Every MiB differs (a counter in front), so a misplaced block changes the hash.
            chunk = i.to_bytes(8, "big") + block[8:]
            digest.update(chunk)
            f.write(chunk)
    expected = digest.hexdigest()

    reset_peak_rss()
    before = peak_rss_kib()
    started = time.monotonic()
    entry = sb.fs.upload_file(big, "/work/big.bin")
    uploaded = time.monotonic() - started
    assert entry.size == SIZE
    big.unlink()
    started = time.monotonic()
    sb.fs.download_file("/work/big.bin", tmp_path / "back.bin")
    downloaded = time.monotonic() - started
    growth = (peak_rss_kib() - before) / 1024
    print(f"{SIZE // MiB} MiB on {runtime}: upload {uploaded:.1f} s, download {downloaded:.1f} s, RSS growth {growth:.1f} MiB")
    assert _sha256(tmp_path / "back.bin") == expected
    assert growth < 50, f"RSS grew {growth:.1f} MiB"
    sb.fs.delete_file("/work/big.bin")
