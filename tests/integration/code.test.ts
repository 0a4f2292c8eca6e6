import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandNotFoundError, ConflictError, NotFoundError, Sandbox } from "paddock";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { RUNTIMES } from "../helpers/paths.js";

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  await daemon?.stop();
});

describe.each(RUNTIMES)("sandbox.code on %s", (runtime) => {
  let debian: Sandbox;
  let busybox: Sandbox;
  beforeAll(async () => {
    [debian, busybox] = await Promise.all([
      Sandbox.create({ ...daemon.client, runtime, image: "debian", memoryMiB: 512 }),
      Sandbox.create({ ...daemon.client, runtime }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([debian?.terminate(), busybox?.terminate()]);
  });

  it("keeps Python state between runs and gives the last expression's value", async () => {
    const ctx = await debian.code.createContext({ language: "python" });
    expect(ctx).toMatchObject({ language: "python", running: true });
    expect(await debian.code.run("x = 42", { context: ctx })).toMatchObject({
      value: null,
      error: null,
      stdout: "",
    });
    expect(await debian.code.run("print(x)\nx * 2", { context: ctx })).toMatchObject({
      stdout: "42\n",
      value: "84",
      error: null,
      timedOut: false,
      context: ctx.id,
    });
    expect((await debian.code.run("None", { context: ctx })).value).toBeNull();
    expect((await debian.code.run("'a' + 'b'", { context: ctx.id })).value).toBe("'ab'");
  });

  it("keeps Node state between runs, in any image", async () => {
    const ctx = await busybox.code.createContext({ language: "node" });
    await busybox.code.run("let n = 1; const k = 'kept'; function inc() { return ++n }", {
      context: ctx,
    });
    expect(await busybox.code.run("inc(); console.log(k); n", { context: ctx })).toMatchObject({
      stdout: "kept\n",
      value: "2",
      error: null,
    });
    expect((await busybox.code.run("undefined", { context: ctx })).value).toBeNull();
    expect((await busybox.code.run("Promise.resolve([1, 2])", { context: ctx })).value).toBe(
      "[ 1, 2 ]",
    );
  });

  it("reports a raised error with name, message and traceback", async () => {
    const py = await debian.code.run("def f():\n    raise KeyError('k')\n\nf()", {
      language: "python",
    });
    expect(py.error).toMatchObject({ name: "KeyError", message: "'k'" });
    expect(py.error?.traceback).toMatch(/Traceback[\s\S]*in f[\s\S]*KeyError: 'k'/);
    expect(py.error?.traceback).not.toContain("_paddock_main");
    const js = await busybox.code.run("function g() { throw new RangeError('far') }\ng()", {
      language: "node",
    });
    expect(js.error).toMatchObject({ name: "RangeError", message: "far" });
    expect(js.error?.traceback).toMatch(/RangeError: far\n\s+at g/);
    const syntax = await debian.code.run("x = ", { language: "python" });
    expect(syntax.error?.name).toBe("SyntaxError");
  });

  it("streams output to the callbacks while the code runs", async () => {
    const seen: { text: string; at: number }[] = [];
    const errs: string[] = [];
    const started = Date.now();
    const result = await debian.code.run(
      "import sys, time\nprint('first')\nsys.stderr.write('warn\\n')\ntime.sleep(1)\nprint('second')",
      {
        onStdout: (text) => seen.push({ text, at: Date.now() - started }),
        onStderr: (text) => errs.push(text),
      },
    );
    const ended = Date.now() - started;
    expect(seen.map((s) => s.text).join("")).toBe("first\nsecond\n");
    // print() may write the text and its newline apart: look for when "first\n" was whole.
    let text = "";
    const firstWhole = seen.find((s) => (text += s.text).includes("first\n"))!;
    expect(ended - firstWhole.at).toBeGreaterThan(700);
    expect(errs.join("")).toBe("warn\n");
    expect(result.stderr).toBe("warn\n");
  });

  it("captures what child processes print", async () => {
    const r = await debian.code.run("import os\nos.system('echo hi; echo oops >&2')");
    expect(r).toMatchObject({ stdout: "hi\n", stderr: "oops\n", value: "0" });
    const js = await busybox.code.run(
      "require('child_process').execSync('echo from-sh', { stdio: 'inherit' }); 1",
      { language: "node" },
    );
    expect(js).toMatchObject({ stdout: "from-sh\n", value: "1" });
  });

  it("interrupts a run at its timeout and keeps the context and its variables", async () => {
    const ctx = await debian.code.createContext({ language: "python" });
    await debian.code.run("kept = [1, 2, 3]", { context: ctx });
    const started = Date.now();
    const r = await debian.code.run("import time\nwhile True:\n    time.sleep(0.1)", {
      context: ctx,
      timeoutMs: 1000,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r).toMatchObject({ timedOut: true, error: { name: "TimeoutError" } });
    expect(r.error?.message).toMatch(/timeout of 1000 ms/);
    expect(r.error?.traceback).toContain("KeyboardInterrupt");
    expect((await debian.code.run("kept", { context: ctx })).value).toBe("[1, 2, 3]");

    const js = await busybox.code.createContext({ language: "node" });
    await busybox.code.run("var v = 'still'", { context: js });
    const spin = await busybox.code.run("for (;;) {}", { context: js, timeoutMs: 1000 });
    expect(spin).toMatchObject({ timedOut: true, error: { name: "TimeoutError" } });
    expect((await busybox.code.run("v", { context: js })).value).toBe("'still'");
  });

  it("restart clears the state; close ends the context", async () => {
    const ctx = await debian.code.createContext({ language: "python", cwd: "/tmp" });
    await debian.code.run("import os\ngone = 1", { context: ctx });
    expect((await debian.code.run("os.getcwd()", { context: ctx })).value).toBe("'/tmp'");
    const restarted = await debian.code.restart(ctx);
    expect(restarted).toMatchObject({ id: ctx.id, running: true });
    expect(restarted.pid).not.toBe(ctx.pid);
    const r = await debian.code.run("gone", { context: ctx });
    expect(r.error).toMatchObject({ name: "NameError" });
    await debian.code.close(ctx);
    expect((await debian.code.listContexts()).map((c) => c.id)).not.toContain(ctx.id);
    await expect(debian.code.run("1", { context: ctx })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("runs without a context in one default context per language", async () => {
    await busybox.code.run("var shared = 7", { language: "node" });
    expect((await busybox.code.run("shared", { language: "node" })).context).toBe("default-node");
    expect((await busybox.code.run("shared", { language: "node" })).value).toBe("7");
    await debian.code.run("shared = 'py'");
    expect(await debian.code.run("shared")).toMatchObject({
      value: "'py'",
      context: "default-python",
    });
    const ids = (await debian.code.listContexts()).map((c) => c.id);
    expect(ids).toContain("default-python");
  });

  it("refuses an unknown context", async () => {
    const err = await busybox.code.run("1", { context: "ctx-000000000000" }).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toMatch(/no code context "ctx-000000000000"/);
  });

  it("says a dead interpreter must be restarted", async () => {
    const ctx = await debian.code.createContext({ language: "python" });
    await debian.code.run("y = 1", { context: ctx });
    const died = await debian.code.run("import os\nos._exit(1)", { context: ctx });
    expect(died.error?.name).toBe("InterpreterDied");
    const err = await debian.code.run("y", { context: ctx }).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toMatch(/exited \(exit code 1\).*restart/);
    expect((await debian.code.getContext(ctx)).running).toBe(false);
    await debian.code.restart(ctx);
    expect((await debian.code.run("1 + 1", { context: ctx })).value).toBe("2");
  });

  it("says so when the image has no python3", async () => {
    const err = await busybox.code.createContext({ language: "python" }).catch((e) => e);
    expect(err).toBeInstanceOf(CommandNotFoundError);
    expect(err.message).toMatch(/image has no python3/);
    const run = await busybox.code.run("1").catch((e) => e);
    expect(run).toBeInstanceOf(CommandNotFoundError);
  });

  it("keeps two contexts apart", async () => {
    const [a, b] = await Promise.all([
      debian.code.createContext({ language: "python" }),
      debian.code.createContext({ language: "python" }),
    ]);
    await Promise.all([
      debian.code.run("who = 'a'", { context: a }),
      debian.code.run("who = 'b'", { context: b }),
    ]);
    expect((await debian.code.run("who", { context: a })).value).toBe("'a'");
    expect((await debian.code.run("who", { context: b })).value).toBe("'b'");
  });

  it("runs one context's runs in turn", async () => {
    const ctx = await debian.code.createContext({ language: "python" });
    await debian.code.run("order = []", { context: ctx });
    await Promise.all([
      debian.code.run("import time\ntime.sleep(0.3)\norder.append(1)", { context: ctx }),
      debian.code.run("order.append(2)", { context: ctx }),
    ]);
    expect((await debian.code.run("order", { context: ctx })).value).toBe("[1, 2]");
  });

  it("delivers big output whole", async () => {
    const size = 5 * 1024 * 1024;
    const r = await debian.code.run(`import sys\nsys.stdout.write('y' * ${size})\nlen('ok')`);
    expect(r.stdout.length).toBe(size);
    expect(r.stdout).toMatch(/^y+$/);
    expect(r.value).toBe("2");
  });

  it("keeps process.runCode for one-off runs", async () => {
    const proc = await busybox.process.runCode("console.log(6 * 7)", { language: "node" });
    expect((await proc.output()).stdout).toBe("42\n");
  });
});
