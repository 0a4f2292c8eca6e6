import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { chmod, copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { BUILTIN_IMAGES } from "@paddock/protocol";
import { run } from "../exec.js";
import { aptMirror } from "./mirror.js";

export type Progress = (message: string) => void;

/**
 * The version of each built-in image's builder, kept in the stored image's meta: bump one when
 * its builder changes what it makes, so an image stored by the older builder is built again on
 * its next use (see ImageStore.retireOutdated).
 */
export const BUILDER_VERSIONS: Record<(typeof BUILTIN_IMAGES)[number], number> = {
  busybox: 1,
  // 2: python3-pip, python3-venv and ca-certificates.
  debian: 2,
  docker: 1,
};

const BUSYBOX = "/bin/busybox";

/** A tiny image from the static busybox of the busybox-static package: ready in well under a second. */
export async function buildBusybox(rootfs: string, progress: Progress): Promise<void> {
  progress("copying static busybox");
  for (const dir of ["bin", "etc", "root", "home", "var", "usr/bin", "usr/sbin", "sbin"]) {
    await mkdir(path.join(rootfs, dir), { recursive: true });
  }
  await copyFile(BUSYBOX, path.join(rootfs, "bin/busybox"));
  await chmod(path.join(rootfs, "bin/busybox"), 0o755);
  const applets = (await run(BUSYBOX, ["--list-full"])).split("\n").filter(Boolean);
  for (const applet of applets) {
    const target = path.join(rootfs, applet);
    if (applet === "bin/busybox") continue;
    await mkdir(path.dirname(target), { recursive: true });
    await symlink("/bin/busybox", target).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
  }
  await writeFile(
    path.join(rootfs, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  );
  await writeFile(path.join(rootfs, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  progress(`busybox ready with ${applets.length} applets`);
}

/**
 * Debian bookworm minbase with python3, pip, venv and ca-certificates, from the machine's own apt
 * mirror. Takes a minute or two.
 */
export async function buildDebian(rootfs: string, progress: Progress): Promise<void> {
  const mirror = await aptMirror();
  const include = "python3,python3-pip,python3-venv,ca-certificates";
  progress(`debootstrap bookworm (minbase, ${include}) from ${mirror}`);
  await runWithProgress(
    "debootstrap",
    ["--variant=minbase", `--include=${include}`, "bookworm", rootfs, mirror],
    progress,
  );
  // Keep the image small: apt's downloaded packages are not needed inside a sandbox.
  await run("find", [path.join(rootfs, "var/cache/apt/archives"), "-name", "*.deb", "-delete"]);
}

/** Runs a build tool and forwards each line it prints as progress. */
function runWithProgress(file: string, args: string[], progress: Progress): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        progress(line);
      });
    }
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${file} failed with exit ${code}: ${tail.slice(-5).join(" | ")}`)),
    );
  });
}

/**
 * Debian trixie minbase with the Docker engine and Docker Compose v2 from Debian's packages:
 * trixie's docker.io 26 and docker-compose 2.26 run under both runc and runsc here, where
 * bookworm offers only Docker 20.10 and the old Python docker-compose 1.29.
 */
export async function buildDocker(rootfs: string, progress: Progress): Promise<void> {
  const mirror = await aptMirror();
  progress(`debootstrap trixie (minbase, docker.io, docker-cli, docker-compose) from ${mirror}`);
  await runWithProgress(
    "debootstrap",
    [
      "--variant=minbase",
      "--include=docker.io,docker-cli,docker-compose,iproute2,ca-certificates,procps",
      "trixie",
      rootfs,
      mirror,
    ],
    progress,
  );
  await run("find", [path.join(rootfs, "var/cache/apt/archives"), "-name", "*.deb", "-delete"]);
}
