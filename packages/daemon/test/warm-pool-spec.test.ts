import { afterEach, describe, expect, it } from "vitest";
import {
  CreateSandboxRequestSchema,
  formatWarmPoolSpec,
  parseWarmPoolSpec,
  profileOfRequest,
  SetWarmPoolsRequestSchema,
  warmPoolKey,
} from "@paddock/protocol";
import { resolveConfig } from "../src/config.js";

const defaults = {
  cpu: 1,
  memoryMiB: 512,
  pidsLimit: 1024,
  diskMiB: 10240,
  docker: false,
  network: { egress: "none", allow: [], deny: [] },
};

describe("--warm specs", () => {
  it("takes IMAGE:RUNTIME=SIZE with create's defaults for the rest", () => {
    expect(parseWarmPoolSpec("busybox:runsc=4")).toEqual({
      image: "busybox",
      runtime: "runsc",
      size: 4,
      ...defaults,
    });
  });

  it("splits from the right, so image references keep their ':' and '/'", () => {
    expect(parseWarmPoolSpec("python:3.12-slim:runc=2")).toMatchObject({
      image: "python:3.12-slim",
      runtime: "runc",
      size: 2,
    });
    expect(parseWarmPoolSpec("localhost:5000/team/app:1:runsc=1")).toMatchObject({
      image: "localhost:5000/team/app:1",
      runtime: "runsc",
    });
    const digest = `app@sha256:${"a".repeat(64)}`;
    expect(parseWarmPoolSpec(`${digest}:runc=1`).image).toBe(digest);
  });

  it("reads the options", () => {
    expect(
      parseWarmPoolSpec(
        "debian:runsc=3,memory=1024,cpu=0.5,disk=2048,pids=64,net=allowlist,allow=pypi.org;10.0.0.0/8,deny=evil.example",
      ),
    ).toEqual({
      image: "debian",
      runtime: "runsc",
      size: 3,
      cpu: 0.5,
      memoryMiB: 1024,
      pidsLimit: 64,
      diskMiB: 2048,
      docker: false,
      network: { egress: "allowlist", allow: ["pypi.org", "10.0.0.0/8"], deny: ["evil.example"] },
    });
    expect(parseWarmPoolSpec("docker:runsc=1,docker=true,net=all")).toMatchObject({
      docker: true,
      network: { egress: "all", allow: [], deny: [] },
    });
  });

  it.each([
    ["busybox=4", /expected IMAGE:RUNTIME=SIZE/],
    ["busybox:runsc", /expected IMAGE:RUNTIME=SIZE/],
    ["python:3.12-slim=4", /"3\.12-slim" is not a runtime .*python:3\.12-slim:runsc=4/],
    ["busybox:runsc=0", /size: size must be at least 1/],
    ["busybox:runsc=two", /size: /],
    ["busybox:runsc=65", /size is at most 64/],
    ["Bad Image:runsc=1", /image: image names are/],
    ["busybox:runsc=1,mem=64", /unknown option "mem=64": options are memory=, cpu=/],
    ["busybox:runsc=1,memory", /unknown option "memory"/],
    ["busybox:runsc=1,memory=1g", /memory must be a number, got "1g"/],
    ["busybox:runsc=1,memory=32", /memoryMiB must be at least 64/],
    ["busybox:runsc=1,cpu=0.1", /cpu must be from 0\.2/],
    ["busybox:runsc=1,docker=yes", /docker must be true or false/],
    ["busybox:runsc=1,net=some", /egress is one of none, all, allowlist/],
    ["busybox:runsc=1,allow=x.org", /allow entries need egress "allowlist"/],
    ["busybox:runsc=1,cpu=1,cpu=2", /option cpu is given twice/],
  ])("refuses %s, saying why", (text, message) => {
    expect(() => parseWarmPoolSpec(text)).toThrow(message);
  });

  it("formats a spec back into the syntax it parses from", () => {
    for (const text of [
      "busybox:runsc=4",
      "python:3.12-slim:runc=2,memory=1024,cpu=2,net=all",
      "debian:runsc=1,disk=2048,pids=64,docker=true,net=allowlist,allow=pypi.org;a.org,deny=b.org",
    ]) {
      expect(formatWarmPoolSpec(parseWarmPoolSpec(text))).toBe(text);
    }
  });

  it("keys a create and a pool of one profile alike: default image filled in, entry order ignored", () => {
    const pool = parseWarmPoolSpec("busybox:runsc=2,net=allowlist,allow=a.org;b.org");
    const create = CreateSandboxRequestSchema.parse({
      env: { A: "1" },
      labels: { x: "y" },
      timeoutSeconds: 60,
      network: { egress: "allowlist", allow: ["b.org", "a.org"] },
    });
    expect(warmPoolKey(profileOfRequest(create))).toBe(warmPoolKey(pool));
    const other = CreateSandboxRequestSchema.parse({ ...create, memoryMiB: 256 });
    expect(warmPoolKey(profileOfRequest(other))).not.toBe(warmPoolKey(pool));
    expect(profileOfRequest(CreateSandboxRequestSchema.parse({ docker: true })).image).toBe(
      "docker",
    );
  });

  it("refuses two pools of one profile in one set", () => {
    const parsed = SetWarmPoolsRequestSchema.safeParse({
      pools: [
        { image: "busybox", runtime: "runc", size: 1 },
        { image: "busybox", runtime: "runc", size: 2, memoryMiB: 512 },
      ],
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/the same profile as pool 0/);
  });
});

describe("warm pools in the daemon's config", () => {
  const saved = process.env.PADDOCK_WARM_POOLS;
  afterEach(() => {
    if (saved === undefined) delete process.env.PADDOCK_WARM_POOLS;
    else process.env.PADDOCK_WARM_POOLS = saved;
  });

  it("reads PADDOCK_WARM_POOLS, blank-separated, and names it in errors", () => {
    process.env.PADDOCK_WARM_POOLS = " busybox:runc=1  debian:runsc=2,memory=1024 ";
    expect(resolveConfig({}).warmPools.map((p) => formatWarmPoolSpec(p))).toEqual([
      "busybox:runc=1",
      "debian:runsc=2,memory=1024",
    ]);
    process.env.PADDOCK_WARM_POOLS = "busybox:runc=1,memory=x";
    expect(() => resolveConfig({})).toThrow(/^PADDOCK_WARM_POOLS: memory must be a number/);
  });

  it("checks the pools given together", () => {
    const pool = parseWarmPoolSpec("busybox:runc=1");
    expect(resolveConfig({ warmPools: [pool] }).warmPools).toEqual([pool]);
    expect(() => resolveConfig({ warmPools: [pool, { ...pool, size: 3 }] })).toThrow(
      /^warm pools \(--warm\): 1: the same profile as pool 0/,
    );
  });
});
