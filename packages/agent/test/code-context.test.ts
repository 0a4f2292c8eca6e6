import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CodeRunEvent } from "@paddock/protocol";
import type { CodeContext } from "../src/code/code-context.js";
import { CodeContexts } from "../src/code/contexts.js";
import { MarkerScanner } from "../src/code/marker-scanner.js";
import { newTable, useBuiltSpawner } from "./process-fixtures.js";

/** Runs code and collects its events. */
async function run(
  context: CodeContext,
  code: string,
  timeoutMs?: number,
  signal = new AbortController().signal,
) {
  const events: CodeRunEvent[] = [];
  const sink = { send: (e: CodeRunEvent) => (events.push(e), true), onDrain: () => {} };
  await context.run(code, sink, { timeoutMs, signal });
  const text = (type: "stdout" | "stderr") =>
    events
      .flatMap((e) => (e.type === type ? [Buffer.from(e.data, "base64").toString()] : []))
      .join("");
  const last = events.at(-1);
  if (last?.type !== "result") throw new Error(`no result: ${JSON.stringify(events)}`);
  return { stdout: text("stdout"), stderr: text("stderr"), ...last };
}

describe("MarkerScanner", () => {
  const token = Buffer.from("\0abcdef");
  function scan(chunks: string[]) {
    const got: string[] = [];
    const scanner = new MarkerScanner(
      token,
      (d) => got.push(`out:${d.toString()}`),
      (p) => got.push(`marker:${p.toString()}`),
    );
    for (const c of chunks) scanner.push(Buffer.from(c));
    scanner.flush();
    return got.join("|").replace(/\|?out:(?=\||$)/g, "");
  }

  it("cuts markers out of output, wherever the chunks split them", () => {
    const whole = 'hello\0abc\0abcdef{"r":1}\nafter';
    for (let i = 0; i <= whole.length; i++) {
      const got = scan([whole.slice(0, i), whole.slice(i)]);
      expect(got.replace(/\|out:/g, "")).toBe('out:hello\0abc|marker:{"r":1}after');
    }
  });

  it("passes on a held-back piece that turned out not to be the token", () => {
    expect(scan(["x\0ab", "zz"])).toBe("out:x|out:\0abzz");
    expect(scan(["x\0abc"])).toBe("out:x|out:\0abc");
  });
});

describe("code contexts (host python3 and node)", () => {
  const contexts = (() => {
    useBuiltSpawner();
    return new CodeContexts({ table: newTable(), nodeArgv: [process.execPath] });
  })();
  let python: CodeContext;
  let node: CodeContext;

  beforeAll(async () => {
    python = await contexts.create({ language: "python" });
    node = await contexts.create({ language: "node" });
  });
  afterAll(async () => {
    for (const c of contexts.list()) await contexts.close(c.id);
  });

  it("keeps Python state and gives the last expression's value", async () => {
    expect((await run(python, "x = 42")).value).toBeNull();
    const r = await run(python, "print(x)\nx + 1");
    expect(r).toMatchObject({ stdout: "42\n", value: "43", error: null });
    expect((await run(python, "None")).value).toBeNull();
  });

  it("reports a Python error without the driver's frames", async () => {
    const r = await run(python, "def f():\n    raise ValueError('bad')\nf()");
    expect(r.error).toMatchObject({ name: "ValueError", message: "bad" });
    expect(r.error?.traceback).toContain("raise ValueError('bad')");
    expect(r.error?.traceback).not.toContain("<string>");
  });

  it("keeps Node state across runs (let and const too)", async () => {
    await run(node, "let a = 1; const b = 2");
    const r = await run(node, "console.log(a + b); ({ a, b })");
    expect(r).toMatchObject({ stdout: "3\n", value: "{ a: 1, b: 2 }", error: null });
    const e = await run(node, "null.x");
    expect(e.error?.name).toBe("TypeError");
  });

  it("interrupts a run at its timeout and keeps the state", async () => {
    await run(python, "kept = 'yes'");
    const r = await run(python, "import time\nwhile True: time.sleep(0.05)", 500);
    expect(r).toMatchObject({ timedOut: true, error: { name: "TimeoutError" } });
    expect(r.error?.traceback).toContain("KeyboardInterrupt");
    expect((await run(python, "kept")).value).toBe("'yes'");
    const n = await run(node, "while (true) {}", 500);
    expect(n).toMatchObject({ timedOut: true, error: { name: "TimeoutError" } });
    expect((await run(node, "a")).value).toBe("1");
  });

  it("interrupts a run whose client went away; the context lives on", async () => {
    const gone = new AbortController();
    setTimeout(() => gone.abort(), 300);
    const r = await run(python, "import time\ntime.sleep(30)", undefined, gone.signal);
    expect(r.error?.name).toBe("KeyboardInterrupt");
    expect((await run(python, "kept")).value).toBe("'yes'");
  });

  it("captures what child processes print, and big output whole", async () => {
    const r = await run(python, "import os\nos.system('echo child; echo err >&2')");
    expect(r.stdout).toBe("child\n");
    expect(r.stderr).toBe("err\n");
    const big = await run(python, "import sys\nsys.stdout.write('x' * (3 << 20))");
    expect(big.stdout.length).toBe(3 << 20);
  });

  it("says a dead interpreter must be restarted, and restart clears the state", async () => {
    const c = await contexts.create({ language: "python" });
    await run(c, "y = 1");
    const died = await run(c, "import os\nos._exit(3)");
    expect(died.error).toMatchObject({ name: "InterpreterDied" });
    expect(() => c.checkAlive()).toThrow(/exit code 3.*restart/);
    await c.restart();
    expect((await run(c, "'y' in dir()")).value).toBe("False");
  });
});
