import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { composeOverride } from "../src/docker/compose-override.js";

const FILE = `
services:
  web:
    image: busybox
    ports: ["80:80"]
  app:
    build: ./app
  job:
    image: busybox
    pull_policy: always
  tool:
    profiles: [tools]
    build: ./tool
  ext:
    extends: { service: app }
`;

/** The override's content (`!reset`, compose's own tag, is checked in the text). */
const read = (yaml: string) =>
  parse(yaml, { logLevel: "error" }) as { services: Record<string, Record<string, unknown>> };

describe("composeOverride", () => {
  it("nothing to override: no file", () => {
    expect(composeOverride(FILE, { hostNetwork: false, builds: ["app"], pullMissing: [] })).toBe(
      undefined,
    );
  });

  it("host networking: every service on the host network, builds too, names mapped to 127.0.0.1", () => {
    // The model (active profiles only) knows that ext builds; the file that tool and app do.
    const override = composeOverride(FILE, {
      hostNetwork: true,
      builds: ["app", "ext"],
      pullMissing: [],
    })!;
    const hosts = [
      "web:127.0.0.1",
      "app:127.0.0.1",
      "job:127.0.0.1",
      "tool:127.0.0.1",
      "ext:127.0.0.1",
    ];
    const common = { network_mode: "host", extra_hosts: hosts, networks: [], ports: [] };
    expect(read(override.yaml).services).toEqual({
      web: common,
      app: { ...common, build: { network: "host" } },
      job: common,
      tool: { ...common, build: { network: "host" } },
      ext: { ...common, build: { network: "host" } },
    });
    expect(override.yaml.match(/^ {4}(networks|ports): !reset \[\]$/gm)).toHaveLength(10);
    expect(override.warnings).toEqual([expect.stringMatching(/^service "web" publishes ports/)]);
  });

  it("pull_policy always becomes missing, also without host networking; other services are left alone", () => {
    const override = composeOverride(FILE, {
      hostNetwork: false,
      builds: ["app"],
      pullMissing: ["job", "included"],
    })!;
    expect(read(override.yaml).services).toEqual({ job: { pull_policy: "missing" } });
    expect(override.warnings).toEqual([]);
  });
});
