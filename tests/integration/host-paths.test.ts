import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Keys } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES, TEST_IMAGES_DIR } from "../helpers/paths.js";

/**
 * Errors an API key reads carry no host path: not the data dir, a sandbox's dir, its bundle or
 * log, nor the runtime's own error output. The admin token still sees them (the operator).
 */

let fakeBin: string;
let daemon: TestDaemon;
beforeAll(async () => {
  // Runtimes whose `run` fails the way a real one does, naming every host path it was given
  // (root, bundle, overlay dir); every other call goes to the real binary.
  fakeBin = await mkdtemp(path.join(tmpdir(), "paddock-fake-runtime-"));
  for (const runtime of RUNTIMES) {
    const real = execFileSync("which", [runtime], { encoding: "utf8" }).trim();
    const script = `#!/bin/sh
for a in "$@"; do
  if [ "$a" = run ]; then
    echo "time=\\"now\\" level=error msg=\\"${runtime} run failed: container init: open $*/config.json: permission denied\\"" >&2
    exit 1
  fi
done
exec ${real} "$@"
`;
    await writeFile(path.join(fakeBin, runtime), script);
    await chmod(path.join(fakeBin, runtime), 0o755);
  }
  daemon = await startDaemon(undefined, { PATH: `${fakeBin}:${process.env.PATH ?? ""}` });
});
afterAll(async () => {
  await daemon?.stop();
  if (fakeBin) await rm(fakeBin, { recursive: true, force: true });
});

async function create(token: string, runtime: string) {
  const res = await fetch(`${daemon.url}/v1/sandboxes`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ runtime }),
  });
  const text = await res.text();
  return {
    status: res.status,
    text,
    body: JSON.parse(text) as {
      error: { code: string; message: string; details?: Record<string, unknown> };
    },
  };
}

describe.each(RUNTIMES)("a failed create under %s", (runtime) => {
  it("shows an API key no host path; the admin sees the runtime's error and the log", async () => {
    const { key } = await new Keys(daemon.client).create(`tenant-${runtime}`);

    const asKey = await create(key, runtime);
    for (const hostPath of [daemon.dataDir, TEST_IMAGES_DIR, "/sandboxes/sb_", "config.json"]) {
      expect(asKey.text).not.toContain(hostPath);
    }
    expect(asKey.status).toBe(500);
    expect(asKey.body.error.code).toBe("runtime_error");
    expect(asKey.body.error.message).toMatch(
      new RegExp(`${runtime} could not start the sandbox.*the daemon's log`),
    );
    expect(asKey.body.error.details ?? {}).not.toHaveProperty("agentLog");
    expect(asKey.body.error.details ?? {}).not.toHaveProperty("runtimeError");

    // The operator still gets the whole story.
    const asAdmin = await create(daemon.token, runtime);
    expect(asAdmin.status).toBe(500);
    expect(asAdmin.body.error.code).toBe("runtime_error");
    expect(String(asAdmin.body.error.details?.runtimeError)).toContain(daemon.dataDir);
    expect(String(asAdmin.body.error.details?.agentLog)).toContain(`${runtime} run failed`);
  });
});
