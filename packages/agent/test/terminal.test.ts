import { beforeAll, describe, expect, it } from "vitest";
import type { ProcessTable } from "../src/processes/process-table.js";
import { AgentError } from "../src/router.js";
import { loginShell } from "../src/users.js";
import { EventCollector, newTable, run, start, useBuiltSpawner } from "./process-fixtures.js";

const PTY = { cols: 100, rows: 30 };

describe("processes on a pseudo-terminal", () => {
  let table: ProcessTable;

  beforeAll(() => {
    useBuiltSpawner();
    table = newTable();
  });

  it("get a terminal of their own as stdin, stdout and stderr", async () => {
    const events = await run(table, {
      argv: ["sh", "-c", "tty; tty <&1; tty <&2; echo err >&2; echo $TERM"],
      pty: PTY,
    });
    expect(events.stdout).toMatch(/^(\/dev\/pts\/\d+)\r\n\1\r\n\1\r\nerr\r\nxterm-256color\r\n$/);
    expect(events.stderr).toBe("");
    expect(events.exit).toMatchObject({ exitCode: 0, signal: null });
  });

  it("have the requested size and the request's TERM", async () => {
    const events = await run(table, {
      argv: ["sh", "-c", "stty size; echo $TERM"],
      pty: PTY,
      env: { TERM: "vt100" },
    });
    expect(events.stdout).toBe("30 100\r\nvt100\r\n");
  });

  it("end with the exit code of their process, which can signal its whole session", async () => {
    expect((await run(table, { argv: ["sh", "-c", "exit 3"], pty: PTY })).exit?.exitCode).toBe(3);
    const killed = await run(table, { argv: ["sh", "-c", "kill -TERM 0"], pty: PTY });
    expect(killed.exit).toMatchObject({ exitCode: null, signal: "SIGTERM" });
  });

  it("refuse a missing command as command_not_found", async () => {
    const failure = await start(table, { argv: ["no-such-command-paddock"], pty: PTY }).catch(
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(AgentError);
    expect((failure as AgentError).code).toBe("command_not_found");
  });

  it("deliver a large output whole (no tail lost after the exit)", async () => {
    const size = 1024 * 1024;
    const events = await run(table, {
      argv: ["sh", "-c", `head -c ${size} /dev/zero | tr '\\000' x`],
      pty: PTY,
    });
    expect(events.stdout.length).toBe(size);
    expect(/^x+$/.test(events.stdout)).toBe(true);
  });

  it("resize: the size changes, the foreground gets SIGWINCH, the info shows it", async () => {
    const proc = await start(table, {
      argv: [
        "sh",
        "-c",
        "trap 'echo WINCH; stty size' WINCH; echo ready; while :; do sleep 0.05; done",
      ],
      pty: PTY,
    });
    const events = new EventCollector();
    proc.attach(events.sink());
    await events.output("ready");
    proc.resize({ cols: 132, rows: 43 });
    await events.output("WINCH\r\n43 132\r\n");
    expect(proc.info().pty).toEqual({ cols: 132, rows: 43 });
    proc.kill();
    await proc.done;
    expect(() => proc.resize(PTY)).toThrow(/has exited/);
  });

  it("refuse a resize of a process not on a terminal", async () => {
    const proc = await start(table, { argv: ["sleep", "5"] });
    expect(() => proc.resize(PTY)).toThrow(expect.objectContaining({ code: "conflict" }));
    expect(proc.info().pty).toBeNull();
    proc.kill();
    await proc.done;
  });

  it("^C interrupts the foreground job of an interactive shell, which lives on", async () => {
    const proc = await start(table, { argv: ["sh", "-i"], pty: PTY, env: { PS1: "$ " } });
    const events = new EventCollector();
    proc.attach(events.sink());
    // What is typed is echoed: results are computed so they differ from their command.
    proc.stdin!.write("echo started$((1+1)); sleep 100\n");
    await events.output("started2");
    await new Promise((r) => setTimeout(r, 200));
    proc.stdin!.write("\x03");
    proc.stdin!.write("echo alive$((2+2))\n");
    await events.output("alive4");
    expect(proc.running).toBe(true);
    proc.stdin!.write("exit 7\n");
    expect((await proc.done).exitCode).toBe(7);
  });

  it("with no command run the user's login shell", async () => {
    const shell = await loginShell();
    const proc = await start(table, { argv: [], pty: PTY });
    expect(proc.info().argv).toEqual([shell]);
    const events = new EventCollector();
    proc.attach(events.sink());
    proc.stdin!.write("echo shell$((3+3)) && exit\n");
    await events.until((c) => c.ended, "the exit");
    expect(events.stdout).toContain("shell6");
  });
});
