import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import {
  chmod,
  chown,
  copyFile,
  link,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { run } from "../../packages/daemon/src/exec.js";
import type { RegistryAuth, TestRegistry } from "./registry.js";

/**
 * Small OCI images made here with umoci from the host's static busybox and pushed with skopeo to a
 * loopback registry (tests/helpers/registry.ts), so no test reaches outside this machine.
 */

/** One pushed image. */
export interface TestImage {
  /** `127.0.0.1:PORT/paddock-test/NAME:TAG` */
  ref: string;
  /** The manifest (or index) digest as pushed: `sha256:...`. */
  digest: string;
  /** `127.0.0.1:PORT/paddock-test/NAME@sha256:...` */
  digestRef: string;
  /** `paddock-test/NAME`, the repository inside the registry. */
  repository: string;
  tag: string;
  /** The registry's credentials, when it has auth. */
  auth?: RegistryAuth;
}

export interface TestImages {
  /** `paddock-test/layers:1`: 3 layers (a whiteout, a hard link) and a full config; see LAYERS_CONFIG. */
  layers: TestImage;
  /** `paddock-test/layers:2`: the same base layer as `layers`, one other top layer (/opt/version). */
  layers2: TestImage;
  /** `paddock-test/multi:1`: an index of linux/amd64 and linux/arm64; /platform holds the arch. */
  multi: TestImage;
  /** `paddock-test/arm-only:1`: an index with only linux/arm64. */
  armOnly: TestImage;
}

/** The config of `layers` and `layers2`, as `skopeo inspect --config` shows it. */
export const LAYERS_CONFIG = {
  Env: ["FOO=bar", "PATH=/opt/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  WorkingDir: "/work",
  User: "app",
  Entrypoint: ["/bin/sh"],
  Cmd: ["-c", "echo hi"],
} as const;

/** Files of the `layers` image: /etc/data/gone is in the base layer and whited out by layer 2. */
export const LAYERS_FILES = {
  "/etc/data/keep": "keep\n",
  "/opt/a": "a and b are one file\n",
  "/opt/two": "two\n",
  "/opt/three": "three\n",
} as const;

const APPLETS = [
  "sh",
  "cat",
  "ls",
  "id",
  "pwd",
  "env",
  "echo",
  "stat",
  "test",
  "sleep",
  "true",
  "wget",
];
const ARCHES = ["amd64", "arm64"] as const;

const pushed = new WeakMap<TestRegistry, Promise<TestImages>>();
const pushedBig = new WeakMap<TestRegistry, Promise<TestImage>>();

/** Builds and pushes the test images, once per registry (later calls share the first push). */
export function pushTestImages(registry: TestRegistry): Promise<TestImages> {
  let job = pushed.get(registry);
  if (!job) {
    job = withWorkDir(async (work) => {
      const layouts = await buildLayouts(work);
      const push = (layout: string, tag: string, repository: string, all = false) =>
        pushImage(registry, layout, tag, repository, "1", all);
      const [layers, multi, armOnly] = [
        await push(layouts.layers, "1", "paddock-test/layers"),
        await push(layouts.multi, "multi", "paddock-test/multi", true),
        await push(layouts.multi, "arm-only", "paddock-test/arm-only", true),
      ];
      const layers2 = await pushImage(registry, layouts.layers, "2", "paddock-test/layers", "2");
      return { layers, layers2, multi, armOnly };
    });
    pushed.set(registry, job);
    job.catch(() => pushed.delete(registry));
  }
  return job;
}

/**
 * `paddock-test/big:1` for the pull benchmark: busybox plus 3 layers of 33 MiB of random
 * (incompressible) data at /data/1, /data/2, /data/3. Built and pushed once per registry.
 */
export function pushBigImage(registry: TestRegistry): Promise<TestImage> {
  let job = pushedBig.get(registry);
  if (!job) {
    job = withWorkDir(async (work) => {
      const layout = path.join(work, "big");
      const bundle = path.join(work, "bundle");
      await umoci("init", "--layout", layout);
      await umoci("new", "--image", `${layout}:1`);
      await umoci("unpack", "--image", `${layout}:1`, bundle);
      const rootfs = path.join(bundle, "rootfs");
      await writeBusyboxRoot(rootfs, "amd64");
      await mkdir(path.join(rootfs, "data"));
      for (const n of [1, 2, 3]) {
        await writeRandomFile(path.join(rootfs, "data", String(n)), 33 * 1024 * 1024);
        await umoci("repack", "--refresh-bundle", "--image", `${layout}:1`, bundle);
      }
      return pushImage(registry, layout, "1", "paddock-test/big", "1");
    });
    pushedBig.set(registry, job);
    job.catch(() => pushedBig.delete(registry));
  }
  return job;
}

/** Saves an image as `docker save` would, with `name` (default `REPOSITORY:TAG`) in its manifest. */
export async function saveDockerArchive(
  image: TestImage,
  file: string,
  name = `${image.repository}:${image.tag}`,
): Promise<void> {
  await skopeoCopy(image, `docker://${image.ref}`, `docker-archive:${file}:${name}`);
}

/**
 * Saves an image as an OCI layout: a tar (`oci-archive`, the default) or a directory (`oci`),
 * tagged with the image's tag; `all` keeps every platform of an index.
 */
export async function saveOciArchive(
  image: TestImage,
  target: string,
  options: { layout?: "tar" | "dir"; all?: boolean } = {},
): Promise<void> {
  const transport = options.layout === "dir" ? "oci" : "oci-archive";
  await skopeoCopy(
    image,
    `docker://${image.ref}`,
    `${transport}:${target}:${image.tag}`,
    options.all ? ["--all"] : [],
  );
}

/**
 * Overwrites the top layer blob of a pushed image (the linux/amd64 one of an index) in the
 * registry's storage with other bytes of the same size, so a pull sees a digest mismatch. The top
 * layer is the one no other test image shares. `restore` puts the original bytes back.
 */
export async function corruptBlob(
  registry: TestRegistry,
  image: TestImage,
): Promise<{ digest: string; restore(): Promise<void> }> {
  const v2 = path.join(registry.storageDir, "docker/registry/v2");
  const blobFile = (digest: string) => {
    const hex = digest.replace(/^sha256:/, "");
    return path.join(v2, "blobs/sha256", hex.slice(0, 2), hex, "data");
  };
  const tagLink = path.join(
    v2,
    "repositories",
    image.repository,
    "_manifests/tags",
    image.tag,
    "current/link",
  );
  let manifest = JSON.parse(
    await readFile(blobFile((await readFile(tagLink, "utf8")).trim()), "utf8"),
  ) as Manifest;
  if (manifest.manifests) {
    const amd64 = manifest.manifests.find((m) => m.platform?.architecture === "amd64");
    if (!amd64) throw new Error(`${image.ref} has no linux/amd64 manifest to corrupt`);
    manifest = JSON.parse(await readFile(blobFile(amd64.digest), "utf8")) as Manifest;
  }
  const top = manifest.layers?.at(-1);
  if (!top) throw new Error(`${image.ref} has no layers`);
  const file = blobFile(top.digest);
  const original = await readFile(file);
  let other = randomBytes(original.length);
  while (other.equals(original)) other = randomBytes(original.length);
  await writeFile(file, other);
  return { digest: top.digest, restore: () => writeFile(file, original) };
}

interface Manifest {
  layers?: { digest: string }[];
  manifests?: { digest: string; platform?: { architecture: string } }[];
}

/** The OCI layouts: `layers` (tags 1 and 2) and `multi` (tags amd64, arm64, multi, arm-only). */
async function buildLayouts(work: string): Promise<{ layers: string; multi: string }> {
  const layers = path.join(work, "layers");
  await umoci("init", "--layout", layers);
  await umoci("new", "--image", `${layers}:base`);
  const bundle = path.join(work, "bundle-1");
  await umoci("unpack", "--image", `${layers}:base`, bundle);
  const rootfs = path.join(bundle, "rootfs");
  await writeBusyboxRoot(rootfs, "amd64");
  await mkdir(path.join(rootfs, "etc/data"));
  await mkdir(path.join(rootfs, "opt"));
  await writeFile(path.join(rootfs, "etc/data/keep"), LAYERS_FILES["/etc/data/keep"]);
  await writeFile(path.join(rootfs, "etc/data/gone"), "gone\n");
  await writeFile(path.join(rootfs, "opt/a"), LAYERS_FILES["/opt/a"]);
  await link(path.join(rootfs, "opt/a"), path.join(rootfs, "opt/b"));
  await umoci("repack", "--refresh-bundle", "--image", `${layers}:base`, bundle);

  // Tag 1: base, then a layer with a whiteout and /opt/two, then /opt/three.
  await unlink(path.join(rootfs, "etc/data/gone"));
  await writeFile(path.join(rootfs, "opt/two"), LAYERS_FILES["/opt/two"]);
  await umoci("repack", "--refresh-bundle", "--image", `${layers}:1`, bundle);
  await writeFile(path.join(rootfs, "opt/three"), LAYERS_FILES["/opt/three"]);
  await umoci("repack", "--image", `${layers}:1`, bundle);

  // Tag 2: the same base blobs, one other top layer.
  const bundle2 = path.join(work, "bundle-2");
  await umoci("unpack", "--image", `${layers}:base`, bundle2);
  await writeFile(path.join(bundle2, "rootfs/opt/version"), "2\n");
  await umoci("repack", "--image", `${layers}:2`, bundle2);

  const config = [
    ...LAYERS_CONFIG.Env.flatMap((e) => ["--config.env", e]),
    ...["--config.workingdir", LAYERS_CONFIG.WorkingDir, "--config.user", LAYERS_CONFIG.User],
    ...LAYERS_CONFIG.Entrypoint.flatMap((e) => ["--config.entrypoint", e]),
    ...LAYERS_CONFIG.Cmd.flatMap((c) => ["--config.cmd", c]),
  ];
  for (const tag of ["1", "2"]) {
    // --clear first: umoci's `new` sets a default Env (its own PATH) that would otherwise stay.
    await umoci("config", "--image", `${layers}:${tag}`, "--clear=config.env", ...config);
  }

  const multi = path.join(work, "multi");
  await umoci("init", "--layout", multi);
  for (const arch of ARCHES) {
    await umoci("new", "--image", `${multi}:${arch}`);
    const archBundle = path.join(work, `bundle-${arch}`);
    await umoci("unpack", "--image", `${multi}:${arch}`, archBundle);
    await writeBusyboxRoot(path.join(archBundle, "rootfs"), arch);
    await umoci("repack", "--image", `${multi}:${arch}`, archBundle);
    await umoci(
      "config",
      "--image",
      `${multi}:${arch}`,
      "--architecture",
      arch,
      "--os",
      "linux",
      "--config.cmd",
      "/bin/sh",
    );
  }
  await tagIndex(multi, "multi", [...ARCHES]);
  await tagIndex(multi, "arm-only", ["arm64"]);
  return { layers, multi };
}

/**
 * Adds an OCI image index to a layout under `tag`, listing the manifests tagged by the arch names
 * (umoci makes single-platform images only; the index is plain JSON by the image-spec).
 */
async function tagIndex(layout: string, tag: string, arches: string[]): Promise<void> {
  const indexFile = path.join(layout, "index.json");
  const top = JSON.parse(await readFile(indexFile, "utf8")) as {
    manifests: { mediaType: string; digest: string; size: number; annotations?: object }[];
  };
  const refName = "org.opencontainers.image.ref.name";
  const manifests = arches.map((arch) => {
    const found = top.manifests.find(
      (m) => (m.annotations as Record<string, string> | undefined)?.[refName] === arch,
    );
    if (!found) throw new Error(`no manifest tagged ${arch} in ${layout}`);
    return {
      mediaType: found.mediaType,
      digest: found.digest,
      size: found.size,
      platform: { architecture: arch, os: "linux" },
    };
  });
  const mediaType = "application/vnd.oci.image.index.v1+json";
  const blob = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests }));
  const hex = createHash("sha256").update(blob).digest("hex");
  await writeFile(path.join(layout, "blobs/sha256", hex), blob);
  top.manifests.push({
    mediaType,
    digest: `sha256:${hex}`,
    size: blob.length,
    annotations: { [refName]: tag },
  });
  await writeFile(indexFile, JSON.stringify(top));
}

/**
 * A tiny root filesystem: the host's static busybox (as the built-in busybox image has it) with a
 * few applets, root and a user `app` (1000:1000, home /home/app), /work, /tmp and /platform.
 */
async function writeBusyboxRoot(rootfs: string, arch: string): Promise<void> {
  for (const dir of ["bin", "etc", "root", "home/app", "tmp", "work"])
    await mkdir(path.join(rootfs, dir), { recursive: true });
  await chmod(path.join(rootfs, "tmp"), 0o1777);
  await chown(path.join(rootfs, "home/app"), 1000, 1000);
  await copyFile("/bin/busybox", path.join(rootfs, "bin/busybox"));
  await chmod(path.join(rootfs, "bin/busybox"), 0o755);
  for (const applet of APPLETS) await symlink("/bin/busybox", path.join(rootfs, "bin", applet));
  await writeFile(
    path.join(rootfs, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
  );
  await writeFile(path.join(rootfs, "etc/group"), "root:x:0:\napp:x:1000:\n");
  await writeFile(path.join(rootfs, "platform"), `${arch}\n`);
}

async function writeRandomFile(file: string, bytes: number): Promise<void> {
  const out = createWriteStream(file);
  const chunk = 1024 * 1024;
  for (let written = 0; written < bytes; written += chunk) {
    if (!out.write(randomBytes(Math.min(chunk, bytes - written)))) await once(out, "drain");
  }
  out.end();
  await once(out, "close");
}

async function pushImage(
  registry: TestRegistry,
  layout: string,
  layoutTag: string,
  repository: string,
  tag: string,
  all = false,
): Promise<TestImage> {
  const image = { ref: `${registry.host}/${repository}:${tag}`, repository, tag };
  const digestFile = path.join(layout, `digest-${layoutTag}-${tag}`);
  await run("skopeo", [
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    ...(registry.auth ? ["--dest-creds", creds(registry.auth)] : []),
    ...(all ? ["--all"] : []),
    "--digestfile",
    digestFile,
    `oci:${layout}:${layoutTag}`,
    `docker://${image.ref}`,
  ]);
  const digest = (await readFile(digestFile, "utf8")).trim();
  return {
    ...image,
    digest,
    digestRef: `${registry.host}/${repository}@${digest}`,
    ...(registry.auth ? { auth: registry.auth } : {}),
  };
}

async function skopeoCopy(
  image: TestImage,
  from: string,
  to: string,
  extra: string[] = [],
): Promise<void> {
  await run("skopeo", [
    "copy",
    "--quiet",
    "--src-tls-verify=false",
    ...(image.auth ? ["--src-creds", creds(image.auth)] : []),
    ...extra,
    from,
    to,
  ]);
}

const creds = (auth: RegistryAuth) => `${auth.user}:${auth.password}`;

const umoci = (...args: string[]) => run("umoci", args);

/** A temp dir for one build, removed when it is done whatever happens. */
async function withWorkDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), "paddock-test-oci-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
