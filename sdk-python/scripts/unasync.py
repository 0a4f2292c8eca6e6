"""Writes the sync client (paddock/_sync) from the async one (paddock/_async), so the two
cannot drift: every sync module but concurrency.py is generated, by token replacement, as
httpcore does with unasync. Run after editing paddock/_async:

    python3 scripts/unasync.py          # writes paddock/_sync
    python3 scripts/unasync.py --check  # fails if paddock/_sync is stale (tests/test_unasync.py)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "paddock"
#: Hand-written in both flavours: a task in one, a thread in the other; an asyncio connection
#: in one, a blocking socket in the other.
HAND_WRITTEN = {"concurrency.py", "websocket.py", "__init__.py"}

#: Applied in order, on whole words.
REPLACEMENTS = [
    (r"async def ", "def "),
    (r"async for ", "for "),
    (r"async with ", "with "),
    (r"await ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baiter_bytes\b", "iter_bytes"),
    (r"\baread\b", "read"),
    (r"\baclose\b", "close"),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\basync_transport\b", "sync_transport"),
]


def convert(text: str) -> str:
    out = f"# Generated from paddock/_async by scripts/unasync.py: edit that, not this.\n{text}"
    for pattern, replacement in REPLACEMENTS:
        out = re.sub(pattern, replacement, out)
    return out


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for source in sorted((ROOT / "_async").glob("*.py")):
        if source.name in HAND_WRITTEN:
            continue
        target = ROOT / "_sync" / source.name
        text = convert(source.read_text())
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target.name)
        if not check:
            target.write_text(text)
    if check and stale:
        print(f"paddock/_sync is stale ({', '.join(stale)}): run python3 scripts/unasync.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
