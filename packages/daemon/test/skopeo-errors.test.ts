import { describe, expect, it } from "vitest";
import { classifySkopeoError, toolMessage } from "../src/images/skopeo.js";

/** stderr of skopeo 1.9.3 (Debian 12), captured against a loopback docker-registry 2.8. */
const fatal = (msg: string) =>
  `time="2026-11-30T19:03:04Z" level=fatal msg=${JSON.stringify(msg)}\n`;
const SAMPLES = {
  plainHttp: fatal(
    'Error parsing image name "docker://127.0.0.1:5055/test/bb:1": pinging container registry 127.0.0.1:5055: Get "https://127.0.0.1:5055/v2/": http: server gave HTTP response to HTTPS client',
  ),
  refused: fatal(
    'Error parsing image name "docker://127.0.0.1:5056/x:1": pinging container registry 127.0.0.1:5056: Get "http://127.0.0.1:5056/v2/": dial tcp 127.0.0.1:5056: connect: connection refused',
  ),
  noHost: fatal(
    'Error parsing image name "docker://nonexist.invalid/x:1": pinging container registry nonexist.invalid: Get "http://nonexist.invalid/v2/": dial tcp: lookup nonexist.invalid on 10.255.255.53:53: no such host',
  ),
  unknown: fatal(
    'Error parsing image name "docker://127.0.0.1:5055/test/nope:1": reading manifest 1 in 127.0.0.1:5055/test/nope: manifest unknown: manifest unknown',
  ),
  noAuth: fatal(
    'Error parsing image name "docker://127.0.0.1:5057/test/bb:1": reading manifest 1 in 127.0.0.1:5057/test/bb: unauthorized: authentication required',
  ),
  badLogin: fatal('logging into "127.0.0.1:5057": invalid username/password'),
  corrupt: fatal(
    "writing blob: happened during read: Digest did not match, expected sha256:e49f737c97a6b58ad5bd6e2f28f31445e94c916e1ec20819bcb043a563d81b1a, got sha256:0bb02048f08174e1be1abdacaf6be02f20006d088c84fd044d55fadb4c9ce6de",
  ),
  platform: fatal(
    'choosing an image from manifest list docker://127.0.0.1:5055/x:1: no image found in manifest list for architecture amd64, variant "", OS linux',
  ),
  other: "some tool crash\nwith a last line\n",
};

const ctx = { reference: "127.0.0.1:5055/test/bb:1", registry: "127.0.0.1:5055" };

describe("skopeo's errors", () => {
  it.each([
    ["plainHttp", "registry_unreachable", /--insecure-registry 127\.0\.0\.1:5055/],
    ["refused", "registry_unreachable", /cannot be reached/],
    ["noHost", "registry_unreachable", /cannot be reached/],
    ["unknown", "image_not_found", /has no image .* check the repository name and tag/],
    ["noAuth", "registry_auth_failed", /paddock registry login 127\.0\.0\.1:5055/],
    ["badLogin", "registry_auth_failed", /invalid username\/password/],
    ["corrupt", "image_corrupt", /does not match its digest/],
    ["platform", "image_platform_unavailable", /--platform/],
    ["other", "image_pull_failed", /with a last line/],
  ] as const)("%s is %s", (sample, code, message) => {
    const err = classifySkopeoError(SAMPLES[sample], ctx);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });

  it("unquotes skopeo's fatal message", () => {
    expect(toolMessage(fatal('a "quoted" name'))).toBe('a "quoted" name');
  });
});
