import { describe, expect, it } from "vitest";
import { ERROR_CODES, ERROR_STATUS } from "@paddock/protocol";
import {
  ConflictError,
  ERROR_CLASSES,
  errorFromResponse,
  ImageNotFoundError,
  InternalError,
  InvalidRequestError,
  InvalidResponseError,
  isPaddockError,
  NotFoundError,
  PaddockError,
  SandboxNotFoundError,
  SandboxNotRunningError,
  UnauthorizedError,
} from "../src/errors.js";

const body = (code: string, message = "m", details?: Record<string, unknown>) => ({
  error: { code, message, ...(details ? { details } : {}) },
});

describe("errorFromResponse", () => {
  it("maps sandbox_not_found to SandboxNotFoundError, a NotFoundError and a PaddockError", () => {
    const err = errorFromResponse(
      404,
      body("sandbox_not_found", "no sandbox sb_x", { id: "sb_x" }),
    );
    expect(err).toBeInstanceOf(SandboxNotFoundError);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toBeInstanceOf(PaddockError);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ImageNotFoundError);
    expect(err.name).toBe("SandboxNotFoundError");
    expect(err.code).toBe("sandbox_not_found");
    expect(err.message).toBe("no sandbox sb_x");
    expect(err.status).toBe(404);
    expect(err.details).toEqual({ id: "sb_x" });
    expect(isPaddockError(err)).toBe(true);
  });

  it.each([
    ["invalid_request", InvalidRequestError],
    ["unauthorized", UnauthorizedError],
    ["image_not_found", ImageNotFoundError],
    ["sandbox_not_running", SandboxNotRunningError],
    ["internal", InternalError],
  ] as const)("maps %s to its class", (code, cls) => {
    const err = errorFromResponse(ERROR_STATUS[code], body(code));
    expect(err).toBeInstanceOf(cls);
    expect(err.code).toBe(code);
  });

  it("makes a SandboxNotRunningError a ConflictError", () => {
    expect(errorFromResponse(409, body("sandbox_not_running"))).toBeInstanceOf(ConflictError);
  });

  it("has a distinct class named for every protocol code", () => {
    for (const code of ERROR_CODES) {
      const err = errorFromResponse(ERROR_STATUS[code], body(code));
      expect(err, code).toBeInstanceOf(ERROR_CLASSES[code]);
      expect(err.constructor, code).not.toBe(PaddockError);
      expect(err.name, code).toMatch(/Error$/);
      expect(err.code).toBe(code);
    }
    expect(new Set(Object.values(ERROR_CLASSES)).size).toBe(ERROR_CODES.length);
  });

  it.each([
    ["an HTML page", "<html>bad gateway</html>"],
    ["undefined", undefined],
    ["an unknown code", body("teapot")],
    ["a message-less error", { error: { code: "internal" } }],
    ["a bare object", { message: "x" }],
  ])("turns %s into InvalidResponseError", (_what, raw) => {
    const err = errorFromResponse(502, raw);
    expect(err).toBeInstanceOf(InvalidResponseError);
    expect(err).toBeInstanceOf(PaddockError);
    expect(err.code).toBe("invalid_response");
    expect(err.status).toBe(502);
    expect(err.message).toContain("502");
  });
});

describe("isPaddockError", () => {
  it("recognises the marker, not any Error", () => {
    expect(isPaddockError(new Error("x"))).toBe(false);
    expect(isPaddockError(null)).toBe(false);
    expect(isPaddockError({ isPaddockError: true })).toBe(true);
  });
});
