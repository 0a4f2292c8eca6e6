import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { run } from "../../packages/daemon/src/exec.js";

/** Debian's docker-registry package (distribution 2.8); see scripts/setup.sh. */
export const REGISTRY_BIN = "/usr/bin/docker-registry";

export interface RegistryAuth {
  user: string;
  password: string;
}

/** A registry on loopback (plain HTTP) with its own storage, started and stopped by a test. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`, the host part of image references. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The registry's filesystem storage (`docker/registry/v2/...` below it). */
  storageDir: string;
  auth?: RegistryAuth;
  /** Stops the registry and removes its storage. */
  stop(): Promise<void>;
}

/**
 * Starts `docker-registry serve` on 127.0.0.1 on a free port, with storage in a temp dir named
 * `paddock-test-registry-*` (so the suite's audit sees one left behind) and, with `auth`, an
 * htpasswd (bcrypt) file. Resolves once `GET /v2/` answers (200, or 401 with auth).
 */
export async function startRegistry(options: { auth?: RegistryAuth } = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(tmpdir(), "paddock-test-registry-"));
  try {
    // A port freed just before the registry binds it can be taken meanwhile: try a few.
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOn(dir, await freePort(), options.auth);
      } catch (err) {
        if (attempt >= 3 || !String(err).includes("address already in use")) throw err;
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function startOn(dir: string, port: number, auth?: RegistryAuth): Promise<TestRegistry> {
  const host = `127.0.0.1:${port}`;
  const storageDir = path.join(dir, "storage");
  const config = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    // No blob descriptor cache: every request reads the blob from disk, so a blob overwritten
    // by corruptBlob (test-images.ts) is what the next pull gets.
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storageDir}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: ${host}`,
  ];
  if (auth) {
    const htpasswd = path.join(dir, "htpasswd");
    await writeFile(htpasswd, await run("htpasswd", ["-Bbn", auth.user, auth.password]));
    config.push("auth:", "  htpasswd:", "    realm: paddock-test", `    path: ${htpasswd}`);
  }
  const configFile = path.join(dir, "config.yml");
  await writeFile(configFile, config.join("\n") + "\n");

  const child = spawn(REGISTRY_BIN, ["serve", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stopChild = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };

  const url = `http://${host}`;
  try {
    await waitReady(url, auth ? 401 : 200, () =>
      child.exitCode !== null || child.signalCode !== null ? stderr || "no output" : undefined,
    );
  } catch (err) {
    await stopChild();
    throw err;
  }
  return {
    host,
    url,
    storageDir,
    ...(auth ? { auth } : {}),
    async stop() {
      await stopChild();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `GET /v2/` until it answers `status`; fails at once if the registry exited. */
async function waitReady(
  url: string,
  status: number,
  exitedWith: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const died = exitedWith();
    if (died !== undefined) throw new Error(`docker-registry exited: ${died.trim()}`);
    const answer = await fetch(`${url}/v2/`).then(
      (r) => r.status,
      () => undefined,
    );
    if (answer === status) return;
    if (answer !== undefined) throw new Error(`GET ${url}/v2/ answered ${answer}, not ${status}`);
    if (Date.now() > deadline) throw new Error(`docker-registry at ${url} did not answer in 15 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
