import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { SIZE_HINT_HEADER } from "@paddock/protocol";
import { AgentError } from "../router.js";
import { fileError, onPath } from "./errno.js";
import { FileSource } from "./file-source.js";

/**
 * Opens a regular file for download. Checked before any header is sent, so a missing file is a
 * 404 and not an error inside a 200 stream. O_NONBLOCK keeps a FIFO from blocking the open;
 * anything but a regular file (FIFO, device such as /dev/zero, socket) is refused.
 */
export async function openRegularFile(p: string): Promise<{ handle: FileHandle; size: number }> {
  const handle = await onPath(p, () => open(p, constants.O_RDONLY | constants.O_NONBLOCK));
  try {
    const st = await handle.stat();
    if (st.isDirectory())
      throw new AgentError("invalid_request", `${p} is a directory; download it as an archive`);
    if (!st.isFile())
      throw new AgentError(
        "invalid_request",
        `${p} is not a regular file (a FIFO, device or socket cannot be downloaded)`,
      );
    return { handle, size: st.size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * Streams an opened file as the response body, read to its end. The first read happens before
 * the headers go out, so a file that cannot be read (/proc/self/mem: EIO) is a clear 4xx and
 * not a broken 200. The size from stat is only a hint (`x-paddock-size`, for progress): /proc
 * and /sys files report 0 or 4096 whatever they hold, and a file may change while it is read.
 */
export async function sendFile(
  res: ServerResponse,
  file: { handle: FileHandle; size: number },
  p: string,
): Promise<void> {
  const first = Buffer.allocUnsafe(64 * 1024);
  let got: number;
  try {
    got = (await file.handle.read(first, 0, first.length, null)).bytesRead;
  } catch (err) {
    await file.handle.close();
    throw fileError(err, p);
  }
  res.writeHead(200, { "content-type": "application/octet-stream", [SIZE_HINT_HEADER]: file.size });
  res.write(first.subarray(0, got));
  if (got === 0) {
    await file.handle.close();
    res.end();
    return;
  }
  // The rest, from where the first read left off.
  await pipeline(new FileSource(file.handle), res).catch(() => {
    res.destroy();
  });
}
