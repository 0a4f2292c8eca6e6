import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ForbiddenError, Images, Keys, Sandbox } from "paddock";
import { paddock } from "../helpers/cli.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { leftovers, runtimeContainers } from "../helpers/host.js";

/**
 * Docker under runc gives the sandbox every capability, every device and a writable cgroup
 * mount: root on the host. No API key may have it; the admin token only when the daemon's
 * operator started it with --allow-runc-docker.
 */

const RUNC_DOCKER = { runtime: "runc", docker: true, memoryMiB: 2048 } as const;

/** Nothing of a refused create: no row, no sandbox directory, no container. */
async function expectNothingMade(daemon: TestDaemon): Promise<void> {
  expect(readdirSync(path.join(daemon.dataDir, "sandboxes"))).toEqual([]);
  expect(runtimeContainers(daemon.dataDir, "runc")).toEqual([]);
  for (const state of ["creating", "running", "failed", "terminated"] as const)
    expect(await Sandbox.list({ ...daemon.client, state })).toEqual([]);
}

async function refusal(create: Promise<Sandbox>): Promise<ForbiddenError> {
  const err = await create.then(
    (sandbox) => sandbox.terminate().then(() => undefined),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ForbiddenError);
  return err as ForbiddenError;
}

describe("a default daemon", () => {
  let daemon: TestDaemon;
  let asKey: { url: string; token: string };
  beforeAll(async () => {
    daemon = await startDaemon();
    asKey = { url: daemon.url, token: (await new Keys(daemon.client).create("alice")).key };
    // Built untimed: the runsc create below must not pay for debootstrap.
    await new Images(daemon.client).build("docker");
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it("refuses runc with Docker to the admin and to a key with a 403 that says why, and makes nothing", async () => {
    for (const [who, client] of [
      ["admin", daemon.client],
      ["key", asKey],
    ] as const) {
      const err = await refusal(Sandbox.create({ ...client, ...RUNC_DOCKER }));
      expect(err.status, who).toBe(403);
      expect(err.code, who).toBe("forbidden");
      expect(err.message, who).toMatch(/root on the host/);
      expect(err.message, who).toMatch(/runtime runsc \(gVisor, the default\)/);
      expect(err.details, who).toEqual({ runtime: "runc", docker: true });
    }
    // The raw answer, as any HTTP client sees it.
    const res = await daemon.api("POST", "/v1/sandboxes", { runtime: "runc", docker: true });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    await expectNothingMade(daemon);
  });

  it("the CLI shows the refusal and exits 1", async () => {
    for (const token of [daemon.token, asKey.token]) {
      const out = await paddock(daemon, ["create", "--docker", "--runtime", "runc"], {
        PADDOCK_TOKEN: token,
      });
      expect(out.code).toBe(1);
      expect(out.stdout).toBe("");
      expect(out.stderr).toMatch(
        /^error: runtime runc with docker: true is refused: Docker under runc gives the sandbox root on the host .*use runtime runsc .*\[forbidden\]\n$/,
      );
    }
    expect((await paddock(daemon, ["create", "--docker", "--runtime", "runc"])).stderr).toMatch(
      /--allow-runc-docker/,
    );
    await expectNothingMade(daemon);
  });

  it("docker: true with no runtime runs under gVisor, for a key too", async () => {
    const sandbox = await Sandbox.create({ ...asKey, docker: true, memoryMiB: 2048 });
    try {
      expect(await sandbox.info()).toMatchObject({ runtime: "runsc", docker: true });
      const info = await (
        await sandbox.process.exec("docker", "info", "--format", "{{.ServerVersion}}")
      ).output();
      expect(info.exitCode).toBe(0);
    } finally {
      await sandbox.terminate();
      expect(leftovers(daemon.dataDir, "runsc", sandbox.id)).toEqual([]);
    }
  });
});

describe("a daemon started with PADDOCK_ALLOW_RUNC_DOCKER=1", () => {
  let daemon: TestDaemon;
  let asKey: { url: string; token: string };
  beforeAll(async () => {
    daemon = await startDaemon(undefined, { PADDOCK_ALLOW_RUNC_DOCKER: "1" });
    asKey = { url: daemon.url, token: (await new Keys(daemon.client).create("alice")).key };
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it("still refuses runc with Docker to an API key", async () => {
    const err = await refusal(Sandbox.create({ ...asKey, ...RUNC_DOCKER }));
    expect(err.status).toBe(403);
    expect(err.message).toMatch(/root on the host.*runtime runsc.*API keys never/);
    await expectNothingMade(daemon);
  });

  it("lets the admin token create it; a restart without the opt-in ends it", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, ...RUNC_DOCKER });
    try {
      expect(await sandbox.info()).toMatchObject({
        runtime: "runc",
        docker: true,
        state: "running",
      });
      // Sandboxes outlive the daemon; one the new daemon would refuse does not run on.
      await daemon.stop({ keepDataDir: true });
      daemon = await startDaemon(daemon.dataDir);
      const res = await daemon.api("GET", `/v1/sandboxes/${sandbox.id}`);
      const info = (await res.json()) as { state: string; reason: string | null };
      expect(info.state).toBe("terminated");
      expect(info.reason).toMatch(/root on the host/);
    } finally {
      await Sandbox.connect(sandbox.id, daemon.client)
        .then((s) => s.terminate())
        .catch(() => {});
      expect(leftovers(daemon.dataDir, "runc", sandbox.id)).toEqual([]);
    }
  });
});
