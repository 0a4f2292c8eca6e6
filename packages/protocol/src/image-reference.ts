/**
 * Image references as Docker and the OCI distribution spec write them:
 * `[registry[:port]/]path[:tag][@sha256:hex]`, with Docker Hub's defaults for short names
 * (`python:3.12` is `docker.io/library/python:3.12`). The grammar follows distribution's
 * `reference` package (regexp.go); only sha256 digests are accepted, the one algorithm
 * registries use. Parsed here once, so nothing else splits a reference by hand.
 */

export const DEFAULT_REGISTRY = "docker.io";
export const DEFAULT_TAG = "latest";
/** distribution's NameTotalLengthMax. */
export const MAX_REFERENCE_NAME_LENGTH = 255;

export interface ImageReference {
  /** Host and optional port, e.g. `docker.io`, `127.0.0.1:5000`, `[::1]:5000`. */
  registry: string;
  /** The repository path, e.g. `library/python`. */
  repository: string;
  /** Present unless only a digest was given. */
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = new RegExp(`^${ALNUM}(?:${SEPARATOR}${ALNUM})*$`);
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export class ImageReferenceError extends Error {
  override name = "ImageReferenceError";
}

/**
 * Parses a reference, or throws an ImageReferenceError saying what is wrong. The first path component
 * is a registry when it has a `.` or `:`, is `localhost`, or has upper case (as Docker decides).
 */
export function parseReference(input: string): ImageReference {
  const fail = (why: string): never => {
    throw new ImageReferenceError(`"${input}" is not an image reference: ${why}`);
  };
  if (input.length === 0) fail("it is empty");
  if (/[\s\p{Cc}]/u.test(input)) fail("it contains whitespace or control characters");
  if (input.startsWith("-")) fail("it starts with '-'");
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail("the digest must be sha256: and 64 lowercase hex digits");
  }
  let tag: string | undefined;
  // A tag's colon comes after the last slash; a colon before it is a registry's port.
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      fail("a tag is 1-128 of letters, digits, '_', '.', '-', not starting with '.' or '-'");
  }
  const parts = rest.split("/");
  let registry = DEFAULT_REGISTRY;
  const first = parts[0]!;
  if (
    parts.length > 1 &&
    (first.includes(".") ||
      first.includes(":") ||
      first === "localhost" ||
      first !== first.toLowerCase())
  ) {
    registry = first;
    parts.shift();
    if (!HOST.test(registry)) fail(`"${registry}" is not a registry host[:port]`);
  }
  if (registry === "index.docker.io") registry = DEFAULT_REGISTRY;
  for (const part of parts) {
    if (!PATH_COMPONENT.test(part)) {
      fail(
        "repository path components are lowercase letters and digits, joined by '.', '_', '__' or '-'",
      );
    }
  }
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (registry.length + 1 + repository.length > MAX_REFERENCE_NAME_LENGTH)
    fail(`the name is longer than ${MAX_REFERENCE_NAME_LENGTH} characters`);
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { registry, repository, ...(tag !== undefined && { tag }), ...(digest && { digest }) };
}

/** `registry/repository`, the name without tag or digest. */
export function referenceName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The full, normalized form: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${referenceName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The same reference pinned to `digest` (the tag kept for reading, as Docker writes it). */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  return { ...ref, digest };
}

/** True when `input` parses as a reference. */
export function isReference(input: string): boolean {
  try {
    parseReference(input);
    return true;
  } catch {
    return false;
  }
}
