import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { ImageConfig } from "@paddock/protocol";
import { PaddockError } from "../errors.js";

/**
 * Reading OCI JSON documents (image index, manifest, config) that skopeo fetched or stored.
 * Only what Paddock uses is read; anything malformed is a corrupt image.
 */

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const DIGEST = /^sha256:[a-f0-9]{64}$/;

export const sha256 = (bytes: string | Buffer) =>
  `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

export function parsePlatform(text: string): Platform {
  const [os, architecture, variant] = text.split("/");
  return { os: os!, architecture: architecture!, ...(variant && { variant }) };
}

export function formatPlatform(p: {
  os?: string;
  architecture?: string;
  variant?: string;
}): string {
  return [p.os ?? "unknown", p.architecture ?? "unknown", ...(p.variant ? [p.variant] : [])].join(
    "/",
  );
}

/** arm64's only variant is v8, so an index may name it or not. */
const variantOf = (p: { architecture?: string; variant?: string }) =>
  p.variant ?? (p.architecture === "arm64" ? "v8" : undefined);

/** Whether an image for `have` runs where `want` is asked. */
export function platformMatches(
  have: { os?: string; architecture?: string; variant?: string },
  want: Platform,
): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  return want.variant === undefined || variantOf(have) === variantOf(want);
}

function corrupt(what: string): PaddockError {
  return new PaddockError("image_corrupt", `${what} is not a valid OCI/Docker document`);
}

function descriptor(value: unknown, what: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (!d || typeof d.digest !== "string" || !DIGEST.test(d.digest) || typeof d.size !== "number")
    throw corrupt(what);
  return d as Descriptor;
}

/** A manifest or an index, as a registry sent it. */
export type Manifest =
  | { kind: "index"; manifests: Descriptor[] }
  | { kind: "manifest"; config: Descriptor; layers: Descriptor[] };

export function parseManifest(raw: string, what: string): Manifest {
  let doc: { manifests?: unknown; config?: unknown; layers?: unknown };
  try {
    doc = JSON.parse(raw) as typeof doc;
  } catch {
    throw corrupt(what);
  }
  if (Array.isArray(doc.manifests))
    return { kind: "index", manifests: doc.manifests.map((m) => descriptor(m, what)) };
  if (doc.config && Array.isArray(doc.layers)) {
    return {
      kind: "manifest",
      config: descriptor(doc.config, what),
      layers: doc.layers.map((l) => descriptor(l, what)),
    };
  }
  throw corrupt(what);
}

/** Platforms of an index worth naming (attestation manifests say unknown/unknown). */
export function platformsOf(manifests: Descriptor[]): string[] {
  return manifests
    .filter((m) => m.platform && m.platform.os !== "unknown")
    .map((m) => formatPlatform(m.platform!));
}

export interface StoredImage {
  /** The digest skopeo stored the (possibly converted) manifest under. */
  manifestDigest: string;
  config: ImageConfig;
  platform: string;
  /** Every blob the image needs: manifest, config and layers. */
  blobs: string[];
}

const strings = (v: unknown): string[] | null =>
  Array.isArray(v) && v.every((s) => typeof s === "string") ? (v as string[]) : null;

/**
 * Reads the image an OCI layout's index.json names (skopeo wrote it there), its manifest and
 * config from the blob directory.
 */
export async function readStoredImage(layoutDir: string, blobsDir: string): Promise<StoredImage> {
  const blob = (digest: string) =>
    readFile(path.join(blobsDir, digest.slice("sha256:".length)), "utf8");
  const index = parseManifest(
    await readFile(path.join(layoutDir, "index.json"), "utf8"),
    "index.json",
  );
  if (index.kind !== "index" || index.manifests.length !== 1)
    throw corrupt("the pulled index.json");
  const manifestDigest = index.manifests[0]!.digest;
  const manifest = parseManifest(await blob(manifestDigest), "the pulled manifest");
  if (manifest.kind !== "manifest") throw corrupt("the pulled manifest");
  let doc: {
    os?: string;
    architecture?: string;
    variant?: string;
    config?: Record<string, unknown>;
  };
  try {
    doc = JSON.parse(await blob(manifest.config.digest)) as typeof doc;
  } catch {
    throw corrupt("the image config");
  }
  const c = doc.config ?? {};
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
  return {
    manifestDigest,
    platform: formatPlatform(doc),
    config: {
      env: strings(c.Env) ?? [],
      workingDir: text(c.WorkingDir),
      user: text(c.User),
      entrypoint: strings(c.Entrypoint),
      cmd: strings(c.Cmd),
    },
    blobs: [manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)],
  };
}
