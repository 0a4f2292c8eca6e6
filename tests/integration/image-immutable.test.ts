import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sandbox } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { runtimeExec } from "../helpers/host.js";
import { RUNTIMES, TEST_IMAGES_DIR } from "../helpers/paths.js";

/** A checksum of a whole tree: every path, type, mode, owner, size, link target and content. */
async function treeChecksum(root: string): Promise<{ sum: string; entries: number }> {
  const hash = createHash("sha256");
  let entries = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const st = await lstat(full);
      entries++;
      hash.update(
        `${path.relative(root, full)}|${st.mode}|${st.uid}|${st.gid}|${st.size}|${st.mtimeMs}\n`,
      );
      if (st.isSymbolicLink()) hash.update(await readlink(full));
      else if (st.isFile()) hash.update(await readFile(full));
      else if (st.isDirectory()) await walk(full);
    }
  };
  await walk(root);
  return { sum: hash.digest("hex"), entries };
}

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

describe("stored images are never written", () => {
  it.each(["busybox", "debian"])(
    "%s is unchanged after runc and runsc sandboxes wrote into it",
    async (image) => {
      // Make sure the image exists before taking the checksum.
      await (await Sandbox.create({ ...daemon.client, image, runtime: "runc" })).terminate();
      const dir = path.join(TEST_IMAGES_DIR, image);
      const before = await treeChecksum(dir);

      for (const runtime of RUNTIMES) {
        const sandbox = await Sandbox.create({ ...daemon.client, image, runtime });
        try {
          const out = runtimeExec(daemon.dataDir, runtime, sandbox.id, [
            "/bin/sh",
            "-c",
            "echo hi > /etc/paddock-new && echo changed >> /etc/passwd && mkdir -p /root/made && rm -f /bin/true && cat /etc/paddock-new",
          ]);
          expect(out.trim()).toBe("hi");
        } finally {
          await sandbox.terminate();
        }
      }

      const after = await treeChecksum(dir);
      expect(after.entries).toBe(before.entries);
      expect(after.sum).toBe(before.sum);
    },
  );
});
