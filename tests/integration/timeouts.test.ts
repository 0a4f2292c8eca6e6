import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InvalidRequestError,
  Keys,
  Sandbox,
  SandboxNotFoundError,
  type SandboxInfo,
} from "paddock";
import { paddock } from "../helpers/cli.js";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";
import { refused } from "../helpers/refused.js";

let daemon: TestDaemon;
let otherKey: string;
beforeAll(async () => {
  daemon = await startDaemon();
  otherKey = (await new Keys(daemon.client).create("timeouts-other")).key;
});
afterAll(async () => {
  await daemon?.stop();
});

/** The daemon's answer to a raw POST /timeout: status and error code (none on success). */
async function postTimeout(id: string, body: unknown, token = daemon.token) {
  const res = await daemon.api("POST", `/v1/sandboxes/${id}/timeout`, body, {
    authorization: `Bearer ${token}`,
  });
  const json = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, code: json.error?.code, message: json.error?.message };
}

/** Asserts `info` expires `seconds` after some instant between `before` and `after`. */
function expectExpiry(info: SandboxInfo, seconds: number, before: number, after: number): void {
  expect(info.timeoutSeconds).toBe(seconds);
  const at = Date.parse(info.expiresAt);
  expect(at).toBeGreaterThanOrEqual(before + seconds * 1000);
  expect(at).toBeLessThanOrEqual(after + seconds * 1000);
}

describe.each(RUNTIMES)("timeouts you can change on %s", (runtime) => {
  it("lengthens past the original timeout, refuses bad input and other keys, shortens to a reaping", async () => {
    const sandbox = await Sandbox.create({ ...daemon.client, runtime, timeoutSeconds: 3 });
    try {
      const created = await sandbox.info();

      // Longer: the original 3 s pass and it keeps running.
      let before = Date.now();
      await sandbox.setTimeout(60);
      expectExpiry(await sandbox.info(), 60, before, Date.now());

      // The CLI, in human form and as JSON.
      before = Date.now();
      const human = await paddock(daemon, ["timeout", sandbox.id, "120"]);
      expect(human.stderr).toBe("");
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(
        new RegExp(`^${sandbox.id} expires at \\S+Z \\(in (1m 59s|2m)\\)\\n$`),
      );
      const json = await paddock(daemon, ["timeout", sandbox.id, "90", "--json"]);
      expect(json.code).toBe(0);
      expectExpiry(JSON.parse(json.stdout) as SandboxInfo, 90, before, Date.now());
      const usage = await paddock(daemon, ["timeout", sandbox.id, "soon"]);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("SECONDS must be a number");

      // Bad input: 400 from the daemon, and the SDK refuses it before sending.
      for (const body of [
        { timeoutSeconds: 0 },
        { timeoutSeconds: 8 * 24 * 3600 },
        { timeoutSeconds: "60" },
        { timeoutSeconds: 1.5 },
        {},
        { timeoutSeconds: 60, extra: true },
      ]) {
        const res = await postTimeout(sandbox.id, body);
        expect([res.status, res.code], JSON.stringify(body)).toEqual([400, "invalid_request"]);
      }
      expect(await refused(() => sandbox.setTimeout(0))).toBeInstanceOf(InvalidRequestError);

      // Another key's sandbox answers as a missing one.
      expect(await postTimeout(sandbox.id, { timeoutSeconds: 5 }, otherKey)).toMatchObject({
        status: 404,
        code: "sandbox_not_found",
      });
      expect(
        await refused(() =>
          Sandbox.setTimeout(sandbox.id, 5, { url: daemon.url, token: otherKey }),
        ),
      ).toBeInstanceOf(SandboxNotFoundError);
      expect((await sandbox.info()).timeoutSeconds).toBe(90);

      // Past the original expiry and a reaper round (1 s): still running.
      await sleep(Math.max(0, Date.parse(created.expiresAt) + 1500 - Date.now()));
      expect((await sandbox.info()).state).toBe("running");

      // Shorter: 2 s from now, then the reaper ends it.
      before = Date.now();
      await sandbox.setTimeout(2);
      expectExpiry(await sandbox.info(), 2, before, Date.now());
      let ended: SandboxInfo | undefined;
      while (Date.now() - before < 10_000) {
        const info = await sandbox.info();
        if (info.state === "terminated") {
          ended = info;
          break;
        }
        await sleep(200);
      }
      expect(ended?.reason).toBe("timeout");
      // Ended by the 2 s timeout and a reaper round, not by anything later.
      expect(Date.now() - before).toBeLessThan(6000);

      // An ended sandbox's timeout cannot change.
      expect(await postTimeout(sandbox.id, { timeoutSeconds: 60 })).toMatchObject({
        status: 409,
        code: "sandbox_not_running",
      });
      const late = await paddock(daemon, ["timeout", sandbox.id, "60"]);
      expect(late.code).toBe(1);
      expect(late.stderr).toContain("[sandbox_not_running]");
    } finally {
      await sandbox.terminate();
    }
  });
});
