import { describe, expect, it } from "vitest";
import { ErrorBodySchema } from "@paddock/protocol";
import { toErrorBody } from "../src/api/error-handler.js";
import { PaddockError } from "../src/errors.js";

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
