import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { REPO, TEST_IMAGES_DIR } from "../helpers/paths.js";

// The Python SDK (sdk-python/) tested by its own pytest suite against a real daemon on runc and
// runsc, and type-checked with mypy --strict. Both come from Debian (scripts/setup.sh), which
// installs them for Debian's own python3: a python3 earlier on PATH (pyenv, say) lacks them.
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const SDK = path.join(REPO, "sdk-python");

let daemon: TestDaemon;
let scratch: string;
beforeAll(async () => {
  daemon = await startDaemon();
  // pytest's tmp_path directories, removed after (its default keeps them under /tmp).
  scratch = await mkdtemp(path.join(tmpdir(), "paddock-pysdk-"));
});
afterAll(async () => {
  await daemon?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Runs python3 with `args` in sdk-python/; resolves with its exit code and output. */
function python(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      PYTHON,
      args,
      {
        cwd: SDK,
        maxBuffer: 64 * 1024 * 1024,
        env: {
          ...process.env,
          // Nothing written into the tree: no __pycache__ (and -p no:cacheprovider, no .pytest_cache).
          PYTHONDONTWRITEBYTECODE: "1",
          PYTHONPATH: SDK,
          ...env,
        },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

/** Runs the pytest suite, or the part of it that `-k` selects, against the daemon. */
async function pytest(select: string): Promise<void> {
  const { code, output } = await python(
    [
      "-m",
      "pytest",
      "-p",
      "no:cacheprovider",
      "-q",
      "--durations=5",
      `--basetemp=${path.join(scratch, select.replace(/\W+/g, "-"))}`,
      "-k",
      select,
      "tests",
    ],
    {
      PADDOCK_URL: daemon.url,
      PADDOCK_TOKEN: daemon.token,
      PADDOCK_TEST_IMAGES_DIR: TEST_IMAGES_DIR,
    },
  );
  expect(code, output).toBe(0);
  if (process.env.PADDOCK_TEST_VERBOSE) process.stderr.write(output);
}

// Concurrent: each runtime's half of the suite and mypy overlap well (the tests mostly wait on
// sandboxes, mypy is CPU work), which keeps the file near a minute and a half.
it.concurrent(
  "passes its pytest suite on runc (and the runtime-free tests)",
  async () => {
    await pytest("not runsc");
  },
  300_000,
);

it.concurrent(
  "passes its pytest suite on runsc",
  async () => {
    await pytest("runsc");
  },
  300_000,
);

it.concurrent(
  "type-checks with mypy --strict",
  async () => {
    // The cache would be written into the tree; /dev/null turns it off.
    const { code, output } = await python([
      "-m",
      "mypy",
      "--strict",
      "--cache-dir=/dev/null",
      "paddock",
    ]);
    expect(code, output).toBe(0);
  },
  300_000,
);

it("terminated every sandbox it made (fixtures and context managers)", async () => {
  const { sandboxes } = (await (await daemon.api("GET", "/v1/sandboxes")).json()) as {
    sandboxes: { id: string; state: string }[];
  };
  expect(sandboxes.filter((s) => !["terminated", "failed"].includes(s.state))).toEqual([]);
});
