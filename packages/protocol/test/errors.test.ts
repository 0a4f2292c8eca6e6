import { describe, expect, it } from "vitest";
import { ERROR_CODES, ERROR_STATUS, statusForCode } from "../src/codes.js";
import { ErrorBodySchema, ErrorCodeSchema } from "../src/errors.js";

describe("error codes", () => {
  it("has an HTTP error status for every code", () => {
    expect(ERROR_CODES.length).toBeGreaterThan(0);
    for (const code of ERROR_CODES) {
      const status = statusForCode(code);
      expect(Number.isInteger(status), code).toBe(true);
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
    }
  });

  it("lists exactly the codes of the status map", () => {
    expect([...ERROR_CODES].sort()).toEqual(Object.keys(ERROR_STATUS).sort());
  });

  it.each([
    ["invalid_request", 400],
    ["unauthorized", 401],
    ["sandbox_not_found", 404],
    ["route_not_found", 404],
    ["sandbox_not_running", 409],
    ["payload_too_large", 413],
    ["internal", 500],
    ["agent_unavailable", 503],
  ] as const)("maps %s to %i", (code, status) => {
    expect(statusForCode(code)).toBe(status);
  });

  it("accepts every code in ErrorCodeSchema and nothing else", () => {
    for (const code of ERROR_CODES) expect(ErrorCodeSchema.safeParse(code).success).toBe(true);
    expect(ErrorCodeSchema.safeParse("teapot").success).toBe(false);
  });
});

describe("ErrorBodySchema", () => {
  it("parses a sample error body", () => {
    const body = {
      error: { code: "sandbox_not_found", message: "no sandbox sb_x", details: { id: "sb_x" } },
    };
    expect(ErrorBodySchema.parse(body)).toEqual(body);
  });

  it("parses a body without details", () => {
    expect(ErrorBodySchema.parse({ error: { code: "internal", message: "m" } }).error.details).toBe(
      undefined,
    );
  });

  it("rejects an unknown code or a missing message", () => {
    expect(ErrorBodySchema.safeParse({ error: { code: "nope", message: "m" } }).success).toBe(
      false,
    );
    expect(ErrorBodySchema.safeParse({ error: { code: "internal" } }).success).toBe(false);
    expect(ErrorBodySchema.safeParse({ message: "m" }).success).toBe(false);
  });
});
