import { readdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, code: body.error.code, message: body.error.message };
}

describe("auth", () => {
  it("health needs no token", async () => {
    const res = await fetch(`${daemon.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok" });
  });

  it.each([
    ["no token", undefined],
    ["a wrong token", "Bearer pdk_wrong"],
    ["a malformed header", "Basic abc"],
  ])("every other route answers 401 with %s", async (_what, authorization) => {
    for (const [method, route] of [
      ["GET", "/v1/sandboxes"],
      ["POST", "/v1/sandboxes"],
      ["GET", "/v1/images"],
      ["GET", "/openapi.json"],
      ["DELETE", "/v1/sandboxes/sb_abc"],
    ] as const) {
      const res = await fetch(daemon.url + route, {
        method,
        headers: authorization ? { authorization } : {},
      });
      const err = await errorOf(res);
      expect(err.status, `${method} ${route}`).toBe(401);
      expect(err.code).toBe("unauthorized");
    }
  });

  it("the token file is readable by its owner only", async () => {
    const { stat } = await import("node:fs/promises");
    expect((await stat(path.join(daemon.dataDir, "token"))).mode & 0o777).toBe(0o600);
  });

  it("serves an OpenAPI description with the sandbox routes", async () => {
    const res = await daemon.api("GET", "/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/v1/sandboxes", "/v1/sandboxes/{id}", "/v1/images"]),
    );
  });
});

describe("bad input gets a clear 4xx and leaves no half-made sandbox", () => {
  const manyLabels = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "v"]));
  it.each([
    ["an unknown image", { image: "no-such-image" }, 404, "image_not_found", /no image named/],
    ["an unknown runtime", { runtime: "kata" }, 400, "invalid_request", /runtime/],
    ["a negative memory", { memoryMiB: -5 }, 400, "invalid_request", /memoryMiB/],
    ["too many labels", { labels: manyLabels }, 400, "invalid_request", /labels/],
    [
      "an oversized label value",
      { labels: { k: "x".repeat(1000) } },
      400,
      "invalid_request",
      /label values/,
    ],
    ["a bad label key", { labels: { "bad key!": "v" } }, 400, "invalid_request", /label keys/],
    ["an unknown field", { imagee: "busybox" }, 400, "invalid_request", /imagee/],
    ["a malformed JSON body", "{not json", 400, "invalid_request", /JSON/i],
    ["a NUL in an env value", { env: { A: "x\u0000y" } }, 400, "invalid_request", /NUL/],
  ])("%s", async (_what, body, status, code, message) => {
    const res = await daemon.api("POST", "/v1/sandboxes", body);
    const err = await errorOf(res);
    expect(err).toMatchObject({ status, code });
    expect(err.message).toMatch(message);
    const list = (await (await daemon.api("GET", "/v1/sandboxes")).json()) as {
      sandboxes: unknown[];
    };
    expect(list.sandboxes).toEqual([]);
    expect(await readdir(path.join(daemon.dataDir, "sandboxes"))).toEqual([]);
  });

  it("an unknown sandbox id is a 404 with a hint", async () => {
    const err = await errorOf(await daemon.api("GET", "/v1/sandboxes/sb_nothere"));
    expect(err).toMatchObject({ status: 404, code: "sandbox_not_found" });
    expect(err.message).toMatch(/paddock list/);
  });

  it("an unknown route is a 404", async () => {
    const err = await errorOf(await daemon.api("GET", "/v1/nope"));
    expect(err).toMatchObject({ status: 404, code: "route_not_found" });
  });
});
