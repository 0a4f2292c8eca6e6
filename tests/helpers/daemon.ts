import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { CLI, TEST_IMAGES_DIR } from "./paths.js";

/** Where a test daemon's error lines are kept after its data dir is gone. */
const ERROR_LOGS = "/var/tmp/paddock-test-daemon-errors";

export interface TestDaemon {
  url: string;
  token: string;
  dataDir: string;
  process: ChildProcess;
  /** Authenticated fetch against the daemon. */
  api(
    method: string,
    route: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Response>;
  /** Options for the SDK. */
  client: { url: string; token: string };
  /** SIGKILL, as a crash would. */
  kill9(): Promise<void>;
  /** A new daemon on the same data dir. */
  restart(): Promise<TestDaemon>;
  /** SIGTERM, then removes the data dir after checking nothing is left mounted in it. */
  stop(opts?: { keepDataDir?: boolean }): Promise<void>;
}

/** Starts `paddock serve` on a free port with its own data dir, as a user would. */
export async function startDaemon(
  dataDir?: string,
  extraEnv: Record<string, string> = {},
  imagesDir: string = TEST_IMAGES_DIR,
): Promise<TestDaemon> {
  const dir = dataDir ?? (await mkdtemp(path.join(tmpdir(), "paddock-test-")));
  const child = spawn(
    process.execPath,
    [CLI, "serve", "--port", "0", "--data-dir", dir, "--images-dir", imagesDir],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        PADDOCK_LOG_LEVEL: process.env.PADDOCK_LOG_LEVEL ?? "warn",
        ...extraEnv,
      },
    },
  );
  let stderr = "";
  const errors: string[] = [];
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
    if (process.env.PADDOCK_TEST_VERBOSE) process.stderr.write(d);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const parsed = JSON.parse(line) as { url?: string; level?: number };
      if (parsed.url) resolve(parsed.url);
      // The daemon's errors (pino level 50 and up) outlive its data dir: see stop().
      if ((parsed.level ?? 0) >= 50 && errors.length < 200) errors.push(line);
    });
    child.once("exit", (code) => reject(new Error(`daemon exited with ${code}: ${stderr}`)));
  });
  const token = (await readFile(path.join(dir, "token"), "utf8")).trim();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const daemon: TestDaemon = {
    url,
    token,
    dataDir: dir,
    process: child,
    client: { url, token },
    api(method, route, body, headers = {}) {
      return fetch(url + route, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...headers,
        },
        body:
          body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
    },
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
    restart: () => startDaemon(dir, extraEnv, imagesDir),
    async stop(opts = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      if (errors.length > 0) {
        // A 500 in a test is explained by these lines; the data dir (and its log) goes below.
        await mkdir(ERROR_LOGS, { recursive: true });
        const file = path.join(ERROR_LOGS, `${path.basename(dir)}.log`);
        await writeFile(file, `${errors.join("\n")}\n`);
        process.stderr.write(`the test daemon logged ${errors.length} error(s): ${file}\n`);
      }
      if (!opts.keepDataDir) await rm(dir, { recursive: true, force: true });
    },
  };
  return daemon;
}
