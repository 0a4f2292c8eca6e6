import { Document, isMap, isNode, parseDocument } from "yaml";
import { PaddockError } from "../errors.js";

/** Service names Docker Compose accepts. */
const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * Reads a compose file with a YAML parser (anchors, aliases and merge keys resolved; never a
 * regular expression) and finds every service, including ones behind profiles or with
 * `extends`. Throws a clear `invalid_request` for invalid YAML, no services or a bad name.
 */
export function parseComposeServices(text: string): {
  services: string[];
  withPorts: string[];
  withBuild: string[];
} {
  const doc = parseDocument(text, { merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PaddockError(
      "invalid_request",
      `the compose file is not valid YAML: ${doc.errors[0]!.message}`,
    );
  }
  if (!isMap(doc.contents))
    throw new PaddockError("invalid_request", "the compose file is not a YAML mapping");
  const root = doc.toJS({ maxAliasCount: 1000 }) as { services?: unknown };
  const services = root.services;
  if (
    !services ||
    typeof services !== "object" ||
    Array.isArray(services) ||
    Object.keys(services).length === 0
  ) {
    throw new PaddockError(
      "invalid_request",
      "the compose file defines no services (a top-level `services:` mapping)",
    );
  }
  const names = Object.keys(services);
  const bad = names.filter((n) => !SERVICE_NAME.test(n));
  if (bad.length > 0) {
    throw new PaddockError(
      "invalid_request",
      `invalid service name${bad.length > 1 ? "s" : ""} ${bad.map((n) => JSON.stringify(n)).join(", ")}: use letters, digits, '_', '.' and '-'`,
    );
  }
  const having = (key: string) =>
    names.filter((n) => {
      const svc = (services as Record<string, unknown>)[n];
      return typeof svc === "object" && svc !== null && key in svc;
    });
  return { services: names, withPorts: having("ports"), withBuild: having("build") };
}

/** What the daemon overrides in a stack. */
export interface OverrideNeeds {
  /**
   * Every service on the host's (the sandbox's) network, every service name mapped to
   * 127.0.0.1 so services still reach each other by name, and every build on that network
   * too: of the services the file gives a `build:` and of `builds` (those with one in the
   * resolved model, also by `extends`).
   */
  hostNetwork: boolean;
  builds: string[];
  /** Services whose `pull_policy: always` becomes `missing`: the daemon pulled their images. */
  pullMissing: string[];
}

/**
 * The override file for a stack (`text`, the compose file), or none when nothing needs one.
 * Only services the file itself defines are overridden: an override naming any other service
 * would define it.
 */
export function composeOverride(
  text: string,
  needs: OverrideNeeds,
): { yaml: string; warnings: string[] } | undefined {
  const { services, withPorts, withBuild } = parseComposeServices(text);
  const ours = (names: string[]) => names.filter((n) => services.includes(n));
  const pullMissing = ours(needs.pullMissing);
  if (!needs.hostNetwork && pullMissing.length === 0) return undefined;
  const doc = new Document({ services: {} }, { aliasDuplicateObjects: false });
  const warnings: string[] = [];
  if (needs.hostNetwork) {
    const extraHosts = services.map((name) => `${name}:127.0.0.1`);
    for (const name of services) {
      doc.setIn(["services", name, "network_mode"], "host");
      doc.setIn(["services", name, "extra_hosts"], doc.createNode(extraHosts));
      // Compose refuses network_mode beside networks, and published ports mean nothing on the
      // host network: `!reset` drops them from every merged service (also ones from extends).
      setReset(doc, name, "networks");
      setReset(doc, name, "ports");
    }
    // A RUN step otherwise asks for Docker's bridge network, which this Docker has not. A
    // short `build: ./dir` merges with this long form.
    for (const name of new Set([...withBuild, ...ours(needs.builds)]))
      doc.setIn(["services", name, "build", "network"], "host");
    warnings.push(
      ...withPorts.map(
        (name) =>
          `service "${name}" publishes ports; with host networking it listens on the sandbox's own ports and the mapping is moot`,
      ),
    );
  }
  for (const name of pullMissing) doc.setIn(["services", name, "pull_policy"], "missing");
  return { yaml: doc.toString(), warnings };
}

function setReset(doc: Document, service: string, key: string): void {
  const node = doc.createNode([]);
  if (isNode(node)) node.tag = "!reset";
  doc.setIn(["services", service, key], node);
}
