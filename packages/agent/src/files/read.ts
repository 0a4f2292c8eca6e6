import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { SIZE_HINT_HEADER } from "@paddock/protocol";
import { AgentError } from "../router.js";
import { onPath } from "./errno.js";

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
 * Streams an opened file as the response body, read to its end. The size from stat is only a
 * hint (`x-paddock-size`, for progress): /proc and /sys files report 0 or 4096 whatever they
 * hold, and a file may shrink or grow while it is read.
 */
export async function sendFile(
  res: ServerResponse,
  file: { handle: FileHandle; size: number },
): Promise<void> {
  res.writeHead(200, { "content-type": "application/octet-stream", [SIZE_HINT_HEADER]: file.size });
  // The file was opened non-blocking for the check; reads of a regular file never block anyway.
  await pipeline(file.handle.createReadStream({ autoClose: true }), res).catch(() => {
    res.destroy();
  });
}
