import { describe, expect, it } from "vitest";
import {
  CreateSandboxRequestSchema,
  LABEL_LIMITS,
  ListSandboxesQuerySchema,
} from "../src/sandbox.js";

function issues(result: {
  success: boolean;
  error?: { issues: { message: string; path: PropertyKey[] }[] };
}) {
  return result.error?.issues ?? [];
}

describe("CreateSandboxRequestSchema", () => {
  it("fills every default for an empty body (the image is chosen by the daemon)", () => {
    expect(CreateSandboxRequestSchema.parse({})).toEqual({
      runtime: "runsc",
      env: {},
      cpu: 1,
      memoryMiB: 512,
      pidsLimit: 1024,
      diskMiB: 10240,
      timeoutSeconds: 300,
      labels: {},
      docker: false,
      network: { egress: "none", allow: [], deny: [] },
      autoResume: false,
    });
  });

  it("keeps given values", () => {
    const spec = CreateSandboxRequestSchema.parse({
      image: "debian",
      runtime: "runc",
      cpu: 0.5,
      memoryMiB: 64,
      env: { FOO: "bar" },
      labels: { team: "ml" },
    });
    expect(spec).toMatchObject({
      image: "debian",
      runtime: "runc",
      cpu: 0.5,
      memoryMiB: 64,
      env: { FOO: "bar" },
      labels: { team: "ml" },
    });
  });

  it("rejects an unknown runtime with a message naming the runtimes", () => {
    const result = CreateSandboxRequestSchema.safeParse({ runtime: "kata" });
    expect(result.success).toBe(false);
    const [issue] = issues(result);
    expect(issue?.path).toEqual(["runtime"]);
    expect(issue?.message).toBe("runtime must be one of: runsc, runc");
  });

  it.each([-1, 0, 16, 63, 64.5])("rejects memoryMiB %s", (memoryMiB) => {
    const result = CreateSandboxRequestSchema.safeParse({ memoryMiB });
    expect(result.success).toBe(false);
    expect(issues(result)[0]?.path).toEqual(["memoryMiB"]);
  });

  it("accepts the smallest memory", () => {
    expect(CreateSandboxRequestSchema.parse({ memoryMiB: 64 }).memoryMiB).toBe(64);
  });

  it.each([0, -0.5, 0.0001, 0.001, 0.01, 0.05, 0.1, 0.199, 64.5])("rejects cpu %s", (cpu) => {
    const result = CreateSandboxRequestSchema.safeParse({ cpu });
    expect(result.success).toBe(false);
    expect(issues(result)[0]?.path).toEqual(["cpu"]);
    expect(issues(result)[0]?.message).toBe(
      "cpu must be from 0.2 to 64 cores (fractions allowed): below 0.2 a sandbox cannot start in time",
    );
  });

  it.each([0.2, 0.25, 1.5, 64])("accepts cpu %s", (cpu) => {
    expect(CreateSandboxRequestSchema.parse({ cpu }).cpu).toBe(cpu);
  });

  it("rejects unknown keys", () => {
    const result = CreateSandboxRequestSchema.safeParse({ image: "busybox", memory: 512 });
    expect(result.success).toBe(false);
    expect(issues(result)[0]?.message).toMatch(/memory/);
  });

  it("rejects a bad image name", () => {
    expect(CreateSandboxRequestSchema.safeParse({ image: "../etc" }).success).toBe(false);
    expect(CreateSandboxRequestSchema.safeParse({ image: "Debian" }).success).toBe(false);
  });

  describe("labels", () => {
    const many = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));

    it("accepts exactly the maximum count", () => {
      expect(
        CreateSandboxRequestSchema.safeParse({ labels: many(LABEL_LIMITS.count) }).success,
      ).toBe(true);
    });

    it("rejects more than 32 labels", () => {
      const result = CreateSandboxRequestSchema.safeParse({ labels: many(33) });
      expect(result.success).toBe(false);
      expect(issues(result)[0]?.message).toBe("at most 32 labels");
    });

    it("rejects a key longer than 63 characters", () => {
      expect(
        CreateSandboxRequestSchema.safeParse({ labels: { ["a".repeat(63)]: "v" } }).success,
      ).toBe(true);
      const result = CreateSandboxRequestSchema.safeParse({ labels: { ["a".repeat(64)]: "v" } });
      expect(result.success).toBe(false);
      expect(issues(result).map((i) => i.message)).toContain(
        "label keys are at most 63 characters",
      );
    });

    it.each(["has space", "-lead", "trail-", "a=b", "ü", ""])("rejects key %j", (key) => {
      expect(CreateSandboxRequestSchema.safeParse({ labels: { [key]: "v" } }).success).toBe(false);
    });

    it.each(["a", "app.kubernetes.io/name", "team_1", "x-y"])("accepts key %j", (key) => {
      expect(CreateSandboxRequestSchema.safeParse({ labels: { [key]: "v" } }).success).toBe(true);
    });

    it("rejects a value longer than 256 characters", () => {
      expect(CreateSandboxRequestSchema.safeParse({ labels: { k: "v".repeat(257) } }).success).toBe(
        false,
      );
    });
  });

  describe("env", () => {
    it.each(["1ABC", "A-B", "A B", "A=B", ""])("rejects name %j", (name) => {
      const result = CreateSandboxRequestSchema.safeParse({ env: { [name]: "x" } });
      expect(result.success).toBe(false);
    });

    it("accepts ordinary names and an empty value", () => {
      expect(CreateSandboxRequestSchema.parse({ env: { _A1: "", PATH_X: "y" } }).env).toEqual({
        _A1: "",
        PATH_X: "y",
      });
    });

    it("rejects a value containing NUL", () => {
      const result = CreateSandboxRequestSchema.safeParse({ env: { A: "x\0y" } });
      expect(result.success).toBe(false);
      expect(issues(result)[0]?.message).toBe("env values cannot contain NUL");
    });
  });
});

describe("ListSandboxesQuerySchema", () => {
  it("defaults label to an empty array", () => {
    expect(ListSandboxesQuerySchema.parse({})).toEqual({ label: [] });
  });

  it("turns a single label string into an array", () => {
    expect(ListSandboxesQuerySchema.parse({ label: "team=ml" }).label).toEqual(["team=ml"]);
  });

  it("keeps an array, and an empty value after '='", () => {
    expect(ListSandboxesQuerySchema.parse({ label: ["a=1", "b="], state: "running" })).toEqual({
      label: ["a=1", "b="],
      state: "running",
    });
  });

  it("rejects a label without '='", () => {
    const result = ListSandboxesQuerySchema.safeParse({ label: "team" });
    expect(result.success).toBe(false);
    expect(issues(result)[0]?.message).toBe("label filters are key=value");
  });

  it("rejects a label with an empty key", () => {
    expect(ListSandboxesQuerySchema.safeParse({ label: ["a=1", "=x"] }).success).toBe(false);
  });

  it("rejects an unknown state and unknown keys", () => {
    expect(ListSandboxesQuerySchema.safeParse({ state: "sleeping" }).success).toBe(false);
    expect(ListSandboxesQuerySchema.safeParse({ labels: "a=b" }).success).toBe(false);
  });
});
