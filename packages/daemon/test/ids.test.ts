import { describe, expect, it } from "vitest";
import { SandboxIdParamsSchema } from "@paddock/protocol";
import { newSandboxId } from "../src/sandboxes/ids.js";

describe("newSandboxId", () => {
  it("looks like sb_ and 16 base-36 characters", () => {
    for (let i = 0; i < 100; i++) expect(newSandboxId()).toMatch(/^sb_[a-z0-9]{16}$/);
  });

  it("is accepted by the API's id parameter schema", () => {
    expect(SandboxIdParamsSchema.safeParse({ id: newSandboxId() }).success).toBe(true);
  });

  it("does not repeat over 1000 ids", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newSandboxId()));
    expect(ids.size).toBe(1000);
  });

  it("uses more than a handful of distinct characters", () => {
    const chars = new Set(
      Array.from({ length: 200 }, () => newSandboxId().slice(3))
        .join("")
        .split(""),
    );
    expect(chars.size).toBe(36);
  });
});
