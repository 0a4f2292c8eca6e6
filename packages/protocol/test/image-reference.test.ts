import { describe, expect, it } from "vitest";
import {
  formatReference,
  ImageNameSchema,
  parseReference,
  PullImageRequestSchema,
} from "../src/index.js";

const D = `sha256:${"a".repeat(64)}`;

describe("image references", () => {
  it.each([
    ["python", "docker.io/library/python:latest"],
    ["python:3.12-slim", "docker.io/library/python:3.12-slim"],
    ["library/python:3", "docker.io/library/python:3"],
    ["bitnami/redis", "docker.io/bitnami/redis:latest"],
    ["index.docker.io/library/alpine:3", "docker.io/library/alpine:3"],
    ["docker.io/alpine", "docker.io/library/alpine:latest"],
    ["ghcr.io/org/app/sub:1.0", "ghcr.io/org/app/sub:1.0"],
    ["127.0.0.1:5000/paddock-test/layers:1", "127.0.0.1:5000/paddock-test/layers:1"],
    ["localhost/x", "localhost/x:latest"],
    ["localhost:5000/x", "localhost:5000/x:latest"],
    ["[::1]:5000/x:y", "[::1]:5000/x:y"],
    [`alpine@${D}`, `docker.io/library/alpine@${D}`],
    [`alpine:3@${D}`, `docker.io/library/alpine:3@${D}`],
    ["a__b/c-d.e---f:T_1.x-y", "docker.io/a__b/c-d.e---f:T_1.x-y"],
  ])("%s is %s", (input, canonical) => {
    expect(formatReference(parseReference(input))).toBe(canonical);
  });

  it("splits registry, repository, tag and digest", () => {
    expect(parseReference(`reg.example:443/a/b:t@${D}`)).toEqual({
      registry: "reg.example:443",
      repository: "a/b",
      tag: "t",
      digest: D,
    });
    expect(parseReference(`a@${D}`).tag).toBeUndefined();
  });

  it.each([
    ["", /empty/],
    ["-rm", /starts with '-'/],
    ["--privileged:1", /'-'/],
    ["Python:3", /lowercase/],
    ["a b", /whitespace/],
    ["a\nb", /whitespace|control/],
    ["a:", /tag/],
    ["a:-x", /tag/],
    [`a:${"x".repeat(129)}`, /tag/],
    ["a@sha256:abc", /digest/],
    [`a@md5:${"a".repeat(32)}`, /digest/],
    ["a//b", /repository path/],
    ["a/-b", /repository path/],
    ["a_/b", /repository path/],
    ["reg.example:port/x", /registry/],
    [`${"a".repeat(250)}/b/c`, /longer than 255/],
    ["a/../b", /repository path/],
  ])("refuses %j", (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
  });

  it("ImageNameSchema takes local names and references, and says what is wrong", () => {
    for (const ok of ["busybox", "my-app", "python:3.12", "ghcr.io/o/a:1", `x@${D}`])
      expect(ImageNameSchema.safeParse(ok).success).toBe(true);
    const bad = ImageNameSchema.safeParse("Debian Latest");
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toMatch(/image names .* references .* whitespace/);
  });

  it("a pull request defaults to linux/amd64 and checks the platform", () => {
    expect(PullImageRequestSchema.parse({ reference: "alpine" }).platform).toBe("linux/amd64");
    expect(
      PullImageRequestSchema.safeParse({ reference: "alpine", platform: "amd64" }).success,
    ).toBe(false);
  });
});
