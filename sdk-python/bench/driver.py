"""The Python side of bench/python-sdk.ts: connects to a sandbox (PADDOCK_URL, PADDOCK_TOKEN),
then times what stdin asks, one command a line, answering one JSON line of milliseconds each:

    exec N      N × sb.process.exec("true").wait()
    upload N    N × sb.fs.upload_files(1,000 files of 4 KiB)

It stays up between commands, so its runs interleave with the TypeScript SDK's in one run."""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from paddock import Sandbox  # noqa: E402

FILES = {f"/bench/py/{i:04}.bin": os.urandom(4096) for i in range(1000)}


def exec_true(sb: Sandbox) -> None:
    exit = sb.process.exec("true").wait()
    if exit.exit_code != 0:
        raise SystemExit(f"true exited with {exit}")


def upload(sb: Sandbox) -> None:
    results = sb.fs.upload_files(FILES)
    if len(results) != len(FILES) or not all(r.ok for r in results):
        raise SystemExit("an upload failed")


def main() -> None:
    sb = Sandbox.connect(sys.argv[1])
    ops = {"exec": exec_true, "upload": upload}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        op, count = line.split()
        samples = []
        for _ in range(int(count)):
            started = time.perf_counter()
            ops[op](sb)
            samples.append((time.perf_counter() - started) * 1000)
        print(json.dumps(samples), flush=True)
    sb.close()


if __name__ == "__main__":
    main()
