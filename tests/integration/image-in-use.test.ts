import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageInUseError, Images, Sandbox } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

// A private image store: these tests remove images, which must not touch the shared one.
let imagesDir: string;
let daemon: TestDaemon;
let busyboxTar: Buffer;
beforeAll(async () => {
  imagesDir = await mkdtemp(path.join(tmpdir(), "paddock-images-in-use-"));
  daemon = await startDaemon(undefined, {}, imagesDir);
  // busybox builds in well under a second; its tree is what the imported images are made of.
  const build = await daemon.api("POST", "/v1/images/busybox/build");
  expect(await build.text()).toContain('"done"');
  busyboxTar = execFileSync("tar", ["-C", path.join(imagesDir, "busybox/rootfs"), "-c", "."], {
    maxBuffer: 64 * 1024 * 1024,
  });
});
afterAll(async () => {
  await daemon?.stop();
  if (imagesDir) await rm(imagesDir, { recursive: true, force: true });
});

/** Imports `name` from busybox's tree (the raw bytes, not text). */
async function importBusyboxAs(name: string): Promise<void> {
  const res = await fetch(`${daemon.url}/v1/images/${name}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${daemon.token}`, "content-type": "application/x-tar" },
    body: busyboxTar,
  });
  expect(res.status, await res.clone().text()).toBe(201);
}

async function errorOf(res: Response) {
  const body = (await res.json()) as {
    error: { code: string; message: string; details?: { sandboxes?: string[] } };
  };
  return { status: res.status, ...body.error };
}

async function works(sandbox: Sandbox): Promise<void> {
  const out = await (
    await sandbox.process.exec("/bin/sh", "-c", "ls /bin/busybox && echo ok")
  ).output();
  expect(out.stdout).toBe("/bin/busybox\nok\n");
}

describe.each(RUNTIMES)("an image in use cannot be removed (%s)", (runtime) => {
  it("an imported image: 409 image_in_use naming the sandboxes; removable once they end", async () => {
    const name = `copy-${runtime}`;
    await importBusyboxAs(name);
    const a = await Sandbox.create({ ...daemon.client, image: name, runtime });
    const b = await Sandbox.create({ ...daemon.client, image: name, runtime });
    try {
      const err = await errorOf(await daemon.api("DELETE", `/v1/images/${name}`));
      expect(err.status).toBe(409);
      expect(err.code).toBe("image_in_use");
      expect(err.message).toContain(a.id);
      expect(err.message).toContain(b.id);
      expect(err.message).toMatch(/terminate the sandboxes/);
      expect(err.details?.sandboxes?.sort()).toEqual([a.id, b.id].sort());
      // The SDK maps the code to its class.
      await expect(new Images(daemon.client).remove(name)).rejects.toBeInstanceOf(ImageInUseError);
      // Nothing was removed: both sandboxes work, new ones too.
      await works(a);
      await works(b);
      expect(existsSync(path.join(imagesDir, name, "rootfs/bin/busybox"))).toBe(true);

      await a.terminate();
      const still = await errorOf(await daemon.api("DELETE", `/v1/images/${name}`));
      expect(still.code).toBe("image_in_use");
      expect(still.details?.sandboxes).toEqual([b.id]);
      await works(b);
    } finally {
      await a.terminate();
      await b.terminate();
    }
    expect((await daemon.api("DELETE", `/v1/images/${name}`)).status).toBe(204);
    expect(existsSync(path.join(imagesDir, name))).toBe(false);
  });

  it("a built-in image: rebuilding leaves running sandboxes alone, removing is refused while used", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, image: "busybox", runtime });
    try {
      const meta = await readFile(path.join(imagesDir, "busybox/image.json"), "utf8");
      const rebuilt = await daemon.api("POST", "/v1/images/busybox/build");
      expect(await rebuilt.text()).toContain('"done"');
      // A build of a stored image is a no-op: the tree under the sandbox is the same one.
      expect(await readFile(path.join(imagesDir, "busybox/image.json"), "utf8")).toBe(meta);
      await works(sandbox);

      const err = await errorOf(await daemon.api("DELETE", "/v1/images/busybox"));
      expect(err.status).toBe(409);
      expect(err.code).toBe("image_in_use");
      expect(err.details?.sandboxes).toEqual([sandbox.id]);
      expect(err.message).toMatch(/built again on next use/);
      await works(sandbox);
    } finally {
      await sandbox.terminate();
    }
    // Unused, it can be removed, and the next sandbox builds it again.
    expect((await daemon.api("DELETE", "/v1/images/busybox")).status).toBe(204);
    const next = await Sandbox.create({ ...daemon.client, image: "busybox", runtime });
    try {
      await works(next);
    } finally {
      await next.terminate();
    }
  });
});

describe("removal and creation do not race", () => {
  it("a create that picked the image is seen by the removal; a later one finds no image", async () => {
    for (let round = 0; round < 3; round++) {
      const name = `race-${round}`;
      await importBusyboxAs(name);
      const creates = [0, 1, 2].map(() =>
        daemon.api("POST", "/v1/sandboxes", { image: name, runtime: "runc" }),
      );
      // The removal goes out while the creates are on their way (round 0: at once; later: a little after).
      await new Promise((r) => setTimeout(r, round * 20));
      const removal = await daemon.api("DELETE", `/v1/images/${name}`);
      const answers = await Promise.all(creates);
      const made: string[] = [];
      for (const res of answers) {
        if (res.status === 201) made.push(((await res.json()) as { id: string }).id);
        else expect((await errorOf(res)).code).toBe("image_not_found");
      }
      try {
        if (removal.status === 204) {
          // Removed: no sandbox may have been made from it.
          expect(made).toEqual([]);
        } else {
          const err = await errorOf(removal);
          expect(err.code).toBe("image_in_use");
          expect(made.length).toBeGreaterThan(0);
          for (const id of err.details?.sandboxes ?? []) expect(made).toContain(id);
        }
        for (const id of made) await works(await Sandbox.connect(id, daemon.client));
      } finally {
        for (const id of made) await daemon.api("DELETE", `/v1/sandboxes/${id}`);
      }
      // Every sandbox gone, the image (if still there) can go.
      const last = await daemon.api("DELETE", `/v1/images/${name}`);
      expect([204, 404]).toContain(last.status);
    }
  });
});
