import { Document, isMap, isNode, parseDocument } from "yaml";
import { PaddockError } from "../errors.js";

/** Service names Docker Compose accepts. */
const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export interface ComposeOverride {
  services: string[];
  /** The override file's YAML text. */
  yaml: string;
  warnings: string[];
}

/**
 * Reads a compose file with a YAML parser (anchors, aliases and merge keys resolved; never a
 * regular expression) and finds every service, including ones behind profiles or with
 * `extends`. Throws a clear `invalid_request` for invalid YAML, no services or a bad name.
 */
export function parseComposeServices(text: string): { services: string[]; withPorts: string[] } {
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
  return { services: names, withPorts: having("ports") };
}

/**
 * The override that makes a stack run without bridge networking: every service on the host's
 * (the sandbox's) network, and every service name mapped to 127.0.0.1 so services still reach
 * each other by name.
 */
export function hostNetworkOverride(text: string): ComposeOverride {
  const { services, withPorts } = parseComposeServices(text);
  const extraHosts = services.map((name) => `${name}:127.0.0.1`);
  const doc = new Document(
    {
      services: Object.fromEntries(
        services.map((name) => [name, { network_mode: "host", extra_hosts: extraHosts }]),
      ),
    },
    { aliasDuplicateObjects: false },
  );
  // Compose refuses network_mode beside networks, and published ports mean nothing on the host
  // network: `!reset` drops them from every merged service (also ones that got them by extends).
  for (const name of services) {
    setReset(doc, name, "networks");
    setReset(doc, name, "ports");
  }
  const warnings = withPorts.map(
    (name) =>
      `service "${name}" publishes ports; with host networking it listens on the sandbox's own ports and the mapping is moot`,
  );
  return { services, yaml: doc.toString(), warnings };
}

function setReset(doc: Document, service: string, key: string): void {
  const node = doc.createNode([]);
  if (isNode(node)) node.tag = "!reset";
  doc.setIn(["services", service, key], node);
}
