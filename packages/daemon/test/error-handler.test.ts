import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { ErrorBodySchema } from "@paddock/protocol";
import { registerErrorHandler, toErrorBody, withoutHostPaths } from "../src/api/error-handler.js";
import type { Principal } from "../src/api/auth.js";
import { PaddockError } from "../src/errors.js";
import type { Logger } from "../src/logger.js";

describe("toErrorBody", () => {
  it("uses the status of a PaddockError's code and keeps details", () => {
    const { status, body } = toErrorBody(
      new PaddockError("sandbox_not_found", "no sandbox sb_x", { id: "sb_x" }),
    );
    expect(status).toBe(404);
    expect(body).toEqual({
      error: { code: "sandbox_not_found", message: "no sandbox sb_x", details: { id: "sb_x" } },
    });
    expect(ErrorBodySchema.safeParse(body).success).toBe(true);
  });

  it.each([
    ["sandbox_not_running", 409],
    ["unauthorized", 401],
    ["agent_unavailable", 503],
    ["insufficient_storage", 507],
  ] as const)("maps %s to %i", (code, status) => {
    expect(toErrorBody(new PaddockError(code, "m")).status).toBe(status);
  });

  it("leaves details out when there are none", () => {
    expect("details" in toErrorBody(new PaddockError("conflict", "m")).body.error).toBe(false);
  });

  it("turns an unknown Error into a 500 that leaks neither message nor stack", () => {
    const err = new Error("secret path /var/lib/paddock/token");
    const { status, body } = toErrorBody(err);
    expect(status).toBe(500);
    expect(body.error.code).toBe("internal");
    expect(body.error.message).not.toContain("secret");
    expect(body.error.message).not.toContain(err.stack!.split("\n")[1]!.trim());
    expect(body.error.message).not.toMatch(/\bat\s.+:\d+:\d+/);
    expect(JSON.stringify(body)).not.toContain("stack");
  });

  it("turns a thrown non-Error into a 500 internal", () => {
    expect(toErrorBody("boom")).toMatchObject({
      status: 500,
      body: { error: { code: "internal" } },
    });
    expect(toErrorBody({ message: "plain object" })).toMatchObject({ status: 500 });
  });

  it("maps fastify's client errors to invalid_request and payload_too_large", () => {
    const json = Object.assign(new Error("Body is not valid JSON"), {
      code: "FST_ERR_CTP_INVALID_JSON_BODY",
    });
    expect(toErrorBody(json)).toEqual({
      status: 400,
      body: { error: { code: "invalid_request", message: "Body is not valid JSON" } },
    });
    const big = Object.assign(new Error("too big"), { code: "FST_ERR_CTP_BODY_TOO_LARGE" });
    expect(toErrorBody(big).status).toBe(413);
    expect(toErrorBody(big).body.error.code).toBe("payload_too_large");
  });

  it("says which content-types to send instead of a bare Unsupported Media Type", () => {
    const media = Object.assign(new Error("Unsupported Media Type"), {
      code: "FST_ERR_CTP_INVALID_MEDIA_TYPE",
    });
    const { status, body } = toErrorBody(media);
    expect(status).toBe(400);
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.message).toContain("application/octet-stream");
  });

  it("does not trust an unrelated error code", () => {
    const err = Object.assign(new Error("EACCES: /secret"), { code: "EACCES" });
    expect(toErrorBody(err)).toMatchObject({ status: 500, body: { error: { code: "internal" } } });
    expect(toErrorBody(err).body.error.message).not.toContain("secret");
  });
});

describe("host details and host paths", () => {
  const DATA = "/var/lib/paddock-x";
  const IMAGES = "/srv/images";
  const hostDirs = [DATA, IMAGES];
  /** A failed create as the sandbox service reports it. */
  const failedCreate = () =>
    new PaddockError(
      "agent_unavailable",
      `the sandbox's agent did not answer within 15000 ms (ENOENT: no such file or directory, open '${DATA}/sandboxes/sb_1/sock/agent.sock')`,
      { runtime: "runc", rootfs: `${IMAGES}/busybox/rootfs`, nested: [`at ${DATA}/state`] },
      {
        hostDetails: {
          agentLog: `runc run failed: ${DATA}/sandboxes/sb_1/config.json`,
          runtimeError: "write /sys/fs/cgroup/cpu/paddock/sb_1/cpu.cfs_quota_us: invalid argument",
        },
      },
    );

  it("an API key sees neither the host details nor any path under the daemon's dirs", () => {
    const { status, body } = toErrorBody(failedCreate(), { admin: false, hostDirs });
    expect(status).toBe(503);
    const text = JSON.stringify(body);
    for (const secret of [DATA, IMAGES, "sandboxes/sb_1", "agent.sock", "cgroup", "config.json"]) {
      expect(text).not.toContain(secret);
    }
    expect(body.error.message).toBe(
      "the sandbox's agent did not answer within 15000 ms (ENOENT: no such file or directory, open '<host path>')",
    );
    expect(body.error.details).toEqual({
      runtime: "runc",
      rootfs: "<host path>",
      nested: ["at <host path>"],
    });
    expect(ErrorBodySchema.safeParse(body).success).toBe(true);
  });

  it("the least is shown when no viewer is named", () => {
    const text = JSON.stringify(toErrorBody(failedCreate()).body);
    expect(text).not.toContain("agentLog");
    expect(text).not.toContain("runtimeError");
  });

  it("the admin sees everything, host details among the details", () => {
    const { body } = toErrorBody(failedCreate(), { admin: true, hostDirs });
    expect(body.error.message).toContain(`${DATA}/sandboxes/sb_1/sock/agent.sock`);
    expect(body.error.details).toMatchObject({
      runtime: "runc",
      rootfs: `${IMAGES}/busybox/rootfs`,
      agentLog: `runc run failed: ${DATA}/sandboxes/sb_1/config.json`,
      runtimeError: expect.stringContaining("cpu.cfs_quota_us"),
    });
  });

  it("replaces whole paths under the dirs and nothing else", () => {
    expect(withoutHostPaths(`mount ${DATA}/sandboxes/a/disk.img: busy`, hostDirs)).toBe(
      "mount <host path>: busy",
    );
    expect(withoutHostPaths(`"${DATA}" and ${IMAGES}`, hostDirs)).toBe(
      '"<host path>" and <host path>',
    );
    // Not under the dir, only alike; and a sandbox's own paths stay.
    expect(withoutHostPaths(`${DATA}-other/x /tmp/x ${IMAGES}2`, hostDirs)).toBe(
      `${DATA}-other/x /tmp/x ${IMAGES}2`,
    );
    // A root of "/" would take every path: never a host dir.
    expect(withoutHostPaths("/etc/passwd", ["/"])).toBe("/etc/passwd");
  });

  it("the daemon answers by principal and logs what a key was not shown", async () => {
    const warned: unknown[] = [];
    const log: Logger = { info() {}, warn: (obj: unknown) => warned.push(obj), error() {} };
    const app = Fastify();
    registerErrorHandler(app, log, hostDirs);
    app.decorateRequest("principal", null as unknown as Principal);
    app.addHook("onRequest", async (request) => {
      const who = request.headers["x-who"];
      if (who) request.principal = { admin: who === "admin", name: who === "admin" ? null : who };
    });
    app.get("/fail", () => {
      throw new PaddockError("runtime_error", `could not start ${DATA}/sandboxes/sb_1`, undefined, {
        hostDetails: { agentLog: `${DATA}/x` },
      });
    });
    app.get("/refuse", () => {
      throw new PaddockError("conflict", "busy", undefined, { hostDetails: { agentLog: "log" } });
    });
    try {
      const asKey = await app.inject({ url: "/fail", headers: { "x-who": "alice" } });
      expect(asKey.statusCode).toBe(500);
      expect(asKey.body).not.toContain(DATA);
      expect(asKey.json()).toEqual({
        error: { code: "runtime_error", message: "could not start <host path>" },
      });
      // No principal at all (auth failed before): the least shown.
      expect((await app.inject({ url: "/fail" })).body).not.toContain(DATA);
      const asAdmin = await app.inject({ url: "/fail", headers: { "x-who": "admin" } });
      expect(asAdmin.json()).toEqual({
        error: {
          code: "runtime_error",
          message: `could not start ${DATA}/sandboxes/sb_1`,
          details: { agentLog: `${DATA}/x` },
        },
      });
      // A 4xx is not logged as a failure, but what the key was not shown is.
      const refused = await app.inject({ url: "/refuse", headers: { "x-who": "alice" } });
      expect(refused.json()).toEqual({ error: { code: "conflict", message: "busy" } });
      expect(warned).toEqual([expect.objectContaining({ code: "conflict", agentLog: "log" })]);
    } finally {
      await app.close();
    }
  });
});
