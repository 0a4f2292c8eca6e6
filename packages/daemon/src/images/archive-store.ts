import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { formatReference, parseReference, type ImageReference } from "@paddock/protocol";
import { PaddockError, errorMessage } from "../errors.js";
import {
  DIGEST,
  formatPlatform,
  parseManifest,
  parsePlatform,
  platformMatches,
  readStoredImage,
  type Descriptor,
  type Manifest,
  type Platform,
} from "./oci-layout.js";
import type { PulledImage } from "./pulled-images.js";
import { LAYOUT_TAG, prepareLayout, unpackStored, type PullContext } from "./puller.js";
import { toolMessage, runTool } from "./skopeo.js";
import { readMember, resolveMember, type TarIndex } from "./tar-index.js";

/** An archive received into `tmp` (a `.pull-<pid>-*` work dir in the image store). */
export type ImageArchive =
  | { kind: "docker-archive"; tmp: string; file: string; index: TarIndex }
  | { kind: "oci-layout"; tmp: string; dir: string };

/** One image an archive holds: `names` are the references or tags it is saved under. */
export interface Candidate {
  key: string;
  names: string[];
  platform?: { os?: string; architecture?: string; variant?: string };
}

const INDEX_TYPES = new Set([
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);

/**
 * Stores the image a `docker save` archive or an OCI layout holds, through the pull's pipeline:
 * skopeo copies it (checking every blob it has a digest for) into a layout on the shared blobs,
 * umoci unpacks it, and it is stored under its manifest digest with `ref` naming it. With
 * several images, the one saved under `ref`, else the only linux/amd64 one, is taken.
 */
export async function storeArchive(
  ref: ImageReference,
  archive: ImageArchive,
  ctx: PullContext,
): Promise<PulledImage> {
  const want = parsePlatform(ctx.platform);
  const what = `the archive for ${formatReference(ref)}`;
  let source: string;
  let digest: string | undefined;
  if (archive.kind === "docker-archive") {
    const images = await dockerImages(archive);
    const chosen = chooseImage(images, ref, want);
    await verifyLayers(archive, chosen);
    source = `docker-archive:${path.relative(archive.tmp, archive.file)}:@${chosen.position}`;
  } else {
    const chosen = chooseImage(await ociImages(archive.dir), ref, want);
    digest = chosen.descriptor.digest;
    if (await ctx.isStored(digest)) return ctx.place(digest, undefined);
    // The layout is the import's own copy: its index now names only the image to copy.
    await writeFile(
      path.join(archive.dir, "index.json"),
      JSON.stringify({ schemaVersion: 2, manifests: [chosen.descriptor] }),
    );
    source = `oci:${path.relative(archive.tmp, archive.dir)}`;
  }
  ctx.progress({ message: `copying ${what}` });
  const { layout, policy } = await prepareLayout(archive.tmp, ctx.blobsDir);
  const copied = await runTool(
    "skopeo",
    ["--policy", policy, "copy", "--remove-signatures", "--", source, `oci:layout:${LAYOUT_TAG}`],
    { cwd: archive.tmp },
  );
  if (copied.code !== 0) throw archiveError(toolMessage(copied.stderr), archive.tmp);
  const stored = await readStoredImage(layout, ctx.blobsDir);
  const have = parsePlatform(stored.platform);
  // A config naming no platform is taken as it is (the archive's only image).
  if (have.os !== "unknown" && !platformMatches(have, want))
    throw noPlatform(ctx.platform, [stored.platform]);
  // A docker archive's manifest is made by skopeo (layers compressed alike each time).
  const stable = digest ?? stored.manifestDigest;
  if (await ctx.isStored(stable)) return ctx.place(stable, undefined);
  await ctx.dedupe(stable, () =>
    unpackStored(archive.tmp, stored, { digest: stable, what, source: "imported" }, ctx),
  );
  return ctx.place(stable, undefined);
}

/** Tells which of an archive's images to take, or says why none can be. */
export function chooseImage<T extends Candidate>(
  images: T[],
  ref: ImageReference,
  want: Platform,
): T {
  // One image listed twice (two tags) is one candidate with both names.
  const byKey = new Map<string, T>();
  for (const i of images) {
    const seen = byKey.get(i.key);
    byKey.set(i.key, seen ? { ...seen, names: [...seen.names, ...i.names] } : i);
  }
  const unique = [...byKey.values()];
  if (unique.length === 0)
    throw new PaddockError("invalid_request", "the archive holds no image (its index is empty)");
  const full = formatReference(ref);
  const named = unique.filter((i) => i.names.some((n) => n === full || n === ref.tag));
  const pool = named.length > 0 ? named : unique;
  const fits = pool.filter((i) => i.platform && platformMatches(i.platform, want));
  // The only image is taken unless it names another platform (a config may name none).
  if (pool.length === 1 && (!pool[0]!.platform?.os || fits.length === 1)) return pool[0]!;
  if (fits.length === 1) return fits[0]!;
  const describe = (list: T[]) =>
    list.map(
      (i) =>
        `${i.names[0] ?? i.key} (${i.platform?.os ? formatPlatform(i.platform) : "no platform"})`,
    );
  if (fits.length === 0) throw noPlatform(formatPlatform(want), describe(pool));
  const listed = describe(fits);
  throw new PaddockError(
    "invalid_request",
    `the archive holds ${fits.length} images for ${formatPlatform(want)}: ${listed.join(", ")}; import one under the name it is saved as (\`paddock image import REPOSITORY:TAG FILE\`)`,
    { images: listed },
  );
}

function noPlatform(platform: string, images: string[]): PaddockError {
  return new PaddockError(
    "image_platform_unavailable",
    `the archive has no image for ${platform}; it has: ${images.join(", ")}. Save one built for ${platform} (say \`docker pull --platform ${platform}\` before \`docker save\`): a sandbox runs only what the host's CPU runs`,
    { platform, images },
  );
}

/** A reference normalized (`docker.io/library/x:latest`), or a bare tag as it is. */
function normalizedName(name: string): string {
  if (/^[\w][\w.-]{0,127}$/.test(name) && !name.includes(":")) return name;
  try {
    return formatReference(parseReference(name));
  } catch {
    return name;
  }
}

function corrupt(message: string): PaddockError {
  return new PaddockError("invalid_request", `the archive is damaged: ${message}`);
}

function parseJson(bytes: Buffer | string, what: string): unknown {
  try {
    return JSON.parse(bytes.toString()) as unknown;
  } catch {
    throw corrupt(`${what} is not JSON`);
  }
}

interface DockerImage extends Candidate {
  /** Index in manifest.json: skopeo's `docker-archive:FILE:@N`. */
  position: number;
  layers: string[];
  diffIds: string[];
}

/** The images of a `docker save` archive's manifest.json, with their configs' platforms. */
async function dockerImages(
  archive: Extract<ImageArchive, { kind: "docker-archive" }>,
): Promise<DockerImage[]> {
  const read = async (name: string) => {
    const member = resolveMember(archive.index, name);
    if (!member) throw corrupt(`${name} is named by manifest.json but missing`);
    return readMember(archive.file, member);
  };
  const manifest = parseJson(await read("manifest.json"), "manifest.json");
  if (!Array.isArray(manifest)) throw corrupt("manifest.json is not a list of images");
  return Promise.all(
    manifest.map(async (entry: unknown, position): Promise<DockerImage> => {
      const e = entry as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
      if (typeof e.Config !== "string" || !Array.isArray(e.Layers))
        throw corrupt(`image ${position} in manifest.json has no Config or Layers`);
      const config = parseJson(await read(e.Config), e.Config) as {
        os?: string;
        architecture?: string;
        variant?: string;
        rootfs?: { diff_ids?: unknown };
      };
      const tags = Array.isArray(e.RepoTags) ? e.RepoTags.filter((t) => typeof t === "string") : [];
      return {
        key: e.Config,
        position,
        names: (tags as string[]).map(normalizedName),
        platform: config.os ? config : undefined,
        layers: e.Layers.map(String),
        diffIds: Array.isArray(config.rootfs?.diff_ids) ? config.rootfs.diff_ids.map(String) : [],
      };
    }),
  );
}

/**
 * Checks each layer of a docker archive's image against its config's diff_ids: skopeo copies
 * these layers without a digest to check, so a damaged layer would otherwise be stored.
 */
async function verifyLayers(
  archive: Extract<ImageArchive, { kind: "docker-archive" }>,
  image: DockerImage,
): Promise<void> {
  if (image.diffIds.length !== image.layers.length)
    throw corrupt(
      `the image config lists ${image.diffIds.length} layers, manifest.json ${image.layers.length}`,
    );
  for (const [i, name] of image.layers.entries()) {
    const member = resolveMember(archive.index, name);
    if (!member) throw corrupt(`layer ${name} is named by manifest.json but missing`);
    const hash = createHash("sha256");
    const bytes = () =>
      createReadStream(archive.file, {
        start: member.offset,
        end: member.offset + Math.max(member.size, 1) - 1,
      });
    const head = await readMember(archive.file, { ...member, size: Math.min(member.size, 2) });
    const gzip = head[0] === 0x1f && head[1] === 0x8b;
    const sink = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        done();
      },
    });
    try {
      if (member.size === 0) hash.update("");
      else if (gzip) await pipeline(bytes(), createGunzip(), sink);
      else await pipeline(bytes(), sink);
    } catch (err) {
      throw corrupt(`layer ${name} cannot be read (${(err as Error).message})`);
    }
    const got = `sha256:${hash.digest("hex")}`;
    if (got !== image.diffIds[i]) {
      throw corrupt(
        `layer ${name} does not match its digest in the image config (expected ${image.diffIds[i]}, got ${got})`,
      );
    }
  }
}

interface OciImage extends Candidate {
  descriptor: Descriptor & { annotations?: Record<string, string> };
}

const REF_NAME = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME = "io.containerd.image.name";

/**
 * The image manifests an OCI layout's index.json names, an image index among them expanded to
 * its manifests (one level, as registries and `docker save` write them); attestations left out.
 */
async function ociImages(dir: string): Promise<OciImage[]> {
  const blob = (digest: string) =>
    readFile(path.join(dir, "blobs", "sha256", digest.slice("sha256:".length)), "utf8").catch(
      () => {
        throw corrupt(`blob ${digest} is named but missing`);
      },
    );
  const indexText = await readFile(path.join(dir, "index.json"), "utf8");
  const top = manifestOf(indexText, "the archive's index.json");
  if (top.kind !== "index") throw corrupt("index.json is not an image index");
  const out: OciImage[] = [];
  for (const d of top.manifests as OciImage["descriptor"][]) {
    const names = [d.annotations?.[REF_NAME], d.annotations?.[CONTAINERD_NAME]]
      .filter((n): n is string => typeof n === "string")
      .map(normalizedName);
    if (!DIGEST.test(d.digest)) throw corrupt(`index.json names a bad digest ${d.digest}`);
    if (d.mediaType && INDEX_TYPES.has(d.mediaType)) {
      const inner = manifestOf(await blob(d.digest), `image index ${d.digest}`);
      if (inner.kind !== "index") throw corrupt(`${d.digest} is not an image index`);
      for (const m of inner.manifests) {
        if (m.platform?.os === "unknown") continue;
        out.push({ key: m.digest, names, platform: m.platform, descriptor: m });
      }
    } else {
      out.push({
        key: d.digest,
        names,
        platform: d.platform ?? (await configPlatform(blob, d.digest)),
        descriptor: d,
      });
    }
  }
  return out;
}

/** parseManifest, its refusal the client's (a damaged upload, not a registry's fault). */
function manifestOf(text: string, what: string): Manifest {
  try {
    return parseManifest(text, what);
  } catch (err) {
    throw corrupt(errorMessage(err));
  }
}

/** The platform a manifest's config names, when its descriptor does not. */
async function configPlatform(
  blob: (digest: string) => Promise<string>,
  manifestDigest: string,
): Promise<Candidate["platform"]> {
  const manifest = manifestOf(await blob(manifestDigest), `manifest ${manifestDigest}`);
  if (manifest.kind !== "manifest") return undefined;
  const config = parseJson(await blob(manifest.config.digest), "an image config") as {
    os?: string;
    architecture?: string;
    variant?: string;
  };
  return config.os ? config : undefined;
}

/** A failed skopeo copy of an archive: the archive is damaged (the host's paths left out). */
function archiveError(message: string, tmp: string): PaddockError {
  const shown = message
    .split(tmp + path.sep)
    .join("")
    .split(tmp)
    .join("");
  if (/digest did not match|does not match|size mismatch|computed digest/i.test(shown))
    return corrupt(`a blob does not match its digest (${shown})`);
  if (/unexpected EOF|EOF$|truncated/i.test(shown))
    return corrupt(`it ends too early: truncated (${shown})`);
  return corrupt(shown);
}
