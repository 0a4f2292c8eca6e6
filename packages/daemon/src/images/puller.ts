import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { formatReference, referenceName, type ImageReference } from "@paddock/protocol";
import { PaddockError } from "../errors.js";
import { run } from "../exec.js";
import { createMountPoints } from "./mount-points.js";
import {
  formatPlatform,
  parseManifest,
  parsePlatform,
  platformMatches,
  platformsOf,
  readStoredImage,
  sha256,
  type Descriptor,
  type Platform,
  type StoredImage,
} from "./oci-layout.js";
import type { PulledImage, PulledMeta } from "./pulled-images.js";
import type { Registries } from "./registries.js";
import { classifySkopeoError, runTool } from "./skopeo.js";

export type PullProgress = (p: {
  message: string;
  completedBytes?: number;
  totalBytes?: number;
}) => void;

export interface PullContext {
  /** The image store's directory; a pull works in `.pull-<pid>-<random>` inside it. */
  dir: string;
  blobsDir: string;
  platform: string;
  registries: Registries;
  progress: PullProgress;
  isStored(digest: string): Promise<boolean>;
  /** Shares one running pull of a digest between callers. */
  dedupe(digest: string, job: () => Promise<PulledImage>): Promise<PulledImage>;
  /** Moves a pulled image dir into place (none: already stored) and records the reference. */
  place(digest: string, pulled: string | undefined): Promise<PulledImage>;
}

/** The tag umoci reads in a pull's own layout. */
export const LAYOUT_TAG = "image";
/** skopeo checks signatures against a policy; images here are pinned by digest instead. */
const POLICY = JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] });
const PROGRESS_INTERVAL_MS = 250;

/**
 * Pulls one image with skopeo (registry to an OCI layout whose blobs are the store's shared
 * ones) and umoci (layout to root filesystem): asks the registry which manifest the reference
 * names for the platform, downloads nothing when that digest is stored, and otherwise builds
 * the image in a temp dir that is moved into place whole.
 */
export async function pullImage(ref: ImageReference, ctx: PullContext): Promise<PulledImage> {
  const reference = formatReference(ref);
  const fail = (stderr: string) =>
    classifySkopeoError(stderr, { reference, registry: ref.registry });
  const want = parsePlatform(ctx.platform);
  ctx.progress({ message: `resolving ${reference}` });
  const inspectArgs = await ctx.registries.skopeoArgs(ref.registry, "inspect");
  const inspect = async (target: string) => {
    const r = await runTool(
      "skopeo",
      ["--command-timeout", "120s", "inspect", "--raw", ...inspectArgs, "--", `docker://${target}`],
      { keepStdout: true },
    );
    if (r.code !== 0) throw fail(r.stderr);
    return r.stdout;
  };
  const raw = await inspect(reference);
  const top = parseManifest(raw, `the manifest of ${reference}`);
  let digest: string;
  let layers: Descriptor[] | undefined;
  if (top.kind === "index") {
    const chosen = top.manifests.find((m) => m.platform && platformMatches(m.platform, want));
    if (!chosen) throw platformError(reference, ctx.platform, platformsOf(top.manifests));
    digest = chosen.digest;
  } else {
    digest = sha256(raw);
    layers = top.layers;
  }
  if (await ctx.isStored(digest)) {
    ctx.progress({ message: `${digest} is stored already` });
    return ctx.place(digest, undefined);
  }
  await ctx.dedupe(digest, async () => {
    const pinned = `${referenceName(ref)}@${digest}`;
    if (!layers) {
      const m = parseManifest(await inspect(pinned), `the manifest of ${pinned}`);
      if (m.kind === "manifest") layers = m.layers;
    }
    const tmp = path.join(ctx.dir, `.pull-${process.pid}-${randomBytes(6).toString("hex")}`);
    try {
      return await download(
        { pinned, registry: ref.registry, digest, tmp },
        layers ?? [],
        want,
        ctx,
        fail,
      );
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
  return ctx.place(digest, undefined);
}

async function download(
  {
    pinned,
    registry,
    digest,
    tmp,
  }: { pinned: string; registry: string; digest: string; tmp: string },
  layers: Descriptor[],
  want: Platform,
  ctx: PullContext,
  fail: (stderr: string) => PaddockError,
): Promise<PulledImage> {
  const { layout, policy } = await prepareLayout(tmp, ctx.blobsDir);

  const total = layers.reduce((n, l) => n + l.size, 0);
  const storedBefore = await presentLayers(ctx.blobsDir, layers);
  const already = storedBefore.reduce((n, l) => n + l.size, 0);
  ctx.progress({
    message: `downloading ${layers.length - storedBefore.length} of ${layers.length} layers (${mib(total - already)})`,
    completedBytes: already,
    totalBytes: total,
  });
  let last = -1;
  const timer = setInterval(() => {
    void copiedBytes(ctx.blobsDir, layout, layers).then((done) => {
      if (done === last) return;
      last = done;
      ctx.progress({ message: "downloading", completedBytes: done, totalBytes: total });
    });
  }, PROGRESS_INTERVAL_MS);
  try {
    const copyArgs = await ctx.registries.skopeoArgs(registry, "copy");
    const copied = await runTool(
      "skopeo",
      [
        "--policy",
        policy,
        "copy",
        "--remove-signatures",
        ...copyArgs,
        "--",
        `docker://${pinned}`,
        `oci:layout:${LAYOUT_TAG}`,
      ],
      { cwd: tmp, onLine: (line) => ctx.progress({ message: line, totalBytes: total }) },
    );
    if (copied.code !== 0) throw fail(copied.stderr);
  } finally {
    clearInterval(timer);
  }
  ctx.progress({ message: "unpacking", completedBytes: total, totalBytes: total });
  const stored = await readStoredImage(layout, ctx.blobsDir);
  const have = parsePlatform(stored.platform);
  if (!platformMatches(have, want))
    throw platformError(pinned, formatPlatform(want), [stored.platform]);
  return unpackStored(tmp, stored, { digest, what: pinned }, ctx);
}

/**
 * Makes `tmp/layout`, the OCI layout skopeo copies an image into (tagged LAYOUT_TAG), whose
 * blobs are the store's shared ones, and the skopeo policy file; returns both paths.
 */
export async function prepareLayout(
  tmp: string,
  blobsDir: string,
): Promise<{ layout: string; policy: string }> {
  const layout = path.join(tmp, "layout");
  await mkdir(blobsDir, { recursive: true });
  await mkdir(layout, { recursive: true });
  // The layout's blobs are the store's shared ones: skopeo skips a blob already there and
  // renames each new one in from its own temp file in the layout dir, so no half blob is seen.
  await symlink(path.dirname(blobsDir), path.join(layout, "blobs"));
  const policy = path.join(path.dirname(path.dirname(blobsDir)), "policy.json");
  if (!(await exists(policy))) await writeFile(policy, POLICY);
  return { layout, policy };
}

/**
 * Unpacks the image skopeo copied into `tmp/layout` (umoci) into `tmp/image/rootfs`, writes its
 * image.json and moves it into place under `digest`. `what` names the image in errors.
 */
export async function unpackStored(
  tmp: string,
  stored: StoredImage,
  options: { digest: string; what: string; source?: PulledMeta["source"] },
  ctx: Pick<PullContext, "progress" | "place">,
): Promise<PulledImage> {
  const { digest, what } = options;
  const image = path.join(tmp, "image");
  await mkdir(image);
  const rootfs = path.join(image, "rootfs");
  const unpacked = await runTool(
    "umoci",
    ["raw", "unpack", "--image", `layout:${LAYOUT_TAG}`, "image/rootfs"],
    { cwd: tmp },
  );
  if (unpacked.code !== 0) {
    throw new PaddockError(
      options.source === "imported" ? "invalid_request" : "image_pull_failed",
      `unpacking ${what} failed: ${unpacked.stderr.trim().slice(-500)}`,
    );
  }
  await createMountPoints(rootfs);
  if (stored.config.workingDir) await ensureDir(rootfs, stored.config.workingDir);
  const sizeBytes = Number((await run("du", ["-sb", "--", rootfs])).split("\t")[0]) || 0;
  const meta: PulledMeta = {
    digest,
    platform: stored.platform,
    pulledAt: new Date().toISOString(),
    sizeBytes,
    config: stored.config,
    blobs: stored.blobs,
    ...(options.source && { source: options.source }),
  };
  await writeFile(path.join(image, "image.json"), JSON.stringify(meta, null, 2));
  ctx.progress({ message: `stored ${digest} (${mib(sizeBytes)} unpacked)` });
  return ctx.place(digest, image);
}

export function platformError(
  reference: string,
  platform: string,
  platforms: string[],
): PaddockError {
  const list = platforms.length > 0 ? platforms.join(", ") : "none named";
  return new PaddockError(
    "image_platform_unavailable",
    `${reference} has no image for ${platform}; it has: ${list}. Pull one of those with --platform (a sandbox runs only what the host's CPU runs)`,
    { reference, platform, platforms },
  );
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

async function presentLayers(blobsDir: string, layers: Descriptor[]): Promise<Descriptor[]> {
  const present = new Set(await readdir(blobsDir).catch(() => [] as string[]));
  return layers.filter((l) => present.has(l.digest.slice("sha256:".length)));
}

/** Layers in the shared blob dir, plus what skopeo's temp files in the layout hold so far. */
async function copiedBytes(
  blobsDir: string,
  layout: string,
  layers: Descriptor[],
): Promise<number> {
  let done = (await presentLayers(blobsDir, layers)).reduce((n, l) => n + l.size, 0);
  for (const name of await readdir(layout).catch(() => [] as string[])) {
    if (name.startsWith("oci-put-blob"))
      done += (await stat(path.join(layout, name)).catch(() => undefined))?.size ?? 0;
  }
  return done;
}

/**
 * Makes the image's WorkingDir (Docker creates it when missing), one component at a time and
 * never through a symlink of the image: a component that exists is left as it is.
 */
async function ensureDir(rootfs: string, dir: string): Promise<void> {
  let current = rootfs;
  for (const part of dir.split("/").filter((p) => p && p !== "." && p !== "..")) {
    current = path.join(current, part);
    const st = await lstat(current).catch(() => undefined);
    if (!st) await mkdir(current, { mode: 0o755 });
    else if (!st.isDirectory()) return;
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
