/**
 * Keystroke round trip on a terminal: one byte sent to `cat` on a sandbox's pseudo-terminal
 * through the SDK (WebSocket to the daemon, the agent's process stream, the pty) until its echo
 * comes back, beside the same through a pseudo-terminal on the host (`script` running cat,
 * driven by pipes), interleaved in one run, for runc and runsc. Needs root and a build; run with
 * `npm run bench -- terminal`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import type { Runtime } from "./lib/daemon.js";
import { benchMain } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { ratio, stats, timed, type Stats } from "./lib/stats.js";

const RUNS = 300;
const WARMUP = 30;
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const IMAGE = "busybox";
/** The targets for the sandbox's p50. */
const TARGET_P50_MS: Record<Runtime, number> = { runc: 3, runsc: 10 };
/** Raw mode and no echo: each byte reaches cat at once, and only cat sends it back. */
const CAT = "stty raw -echo; exec cat";

/** Something that takes a keystroke and shows output: the sandbox's terminal or the host's. */
interface Keys {
  send(byte: string): void;
  onData(listener: (text: string) => void): void;
}

/** Sends a byte and resolves once it has come back. */
function roundTrip(keys: Keys) {
  let waiting: { byte: string; resolve: () => void } | undefined;
  keys.onData((text) => {
    if (waiting && text.includes(waiting.byte)) {
      const { resolve } = waiting;
      waiting = undefined;
      resolve();
    }
  });
  let n = 0;
  return () =>
    new Promise<void>((resolve, reject) => {
      // Letters in turn, so an echo is never mistaken for the one before it.
      const byte = String.fromCharCode(97 + (n++ % 26));
      const timer = setTimeout(() => reject(new Error(`no echo of ${byte} within 5 s`)), 5000);
      waiting = {
        byte,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      keys.send(byte);
    });
}

/** cat on a pseudo-terminal of the host: util-linux `script`, its stdin and stdout pipes. */
function hostTerminal(): { keys: Keys; child: ChildProcessWithoutNullStreams } {
  const child = spawn("script", ["-qfc", CAT, "/dev/null"], { stdio: "pipe" });
  return {
    child,
    keys: {
      send: (byte) => child.stdin.write(byte),
      onData: (listener) => child.stdout.setEncoding("utf8").on("data", listener),
    },
  };
}

interface Result {
  runtime: Runtime;
  sandbox: Stats;
  host: Stats;
  /** Sandbox p50 / host p50. */
  ratio: number;
  targetP50: number;
  pass: boolean;
}

benchMain(
  [IMAGE],
  async (bench) => {
    const results: Result[] = [];
    for (const runtime of RUNTIMES) {
      const sandbox = await bench.create({ runtime, image: IMAGE });
      const listeners: ((text: string) => void)[] = [];
      const decoder = new TextDecoder();
      const term = await sandbox.pty.create({
        command: ["sh", "-c", CAT],
        onData: (d) => {
          const text = decoder.decode(d, { stream: true });
          for (const l of listeners) l(text);
        },
      });
      const remote = roundTrip({
        send: (byte) => void term.sendInput(byte),
        onData: (l) => listeners.push(l),
      });
      const host = hostTerminal();
      const local = roundTrip(host.keys);
      // The warm-ups also wait out stty: until it has run, an echo could come from the tty.
      for (let i = 0; i < WARMUP; i++) {
        await remote();
        await local();
      }
      const inSandbox: number[] = [];
      const onHost: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        bench.signal.throwIfAborted();
        inSandbox.push(await timed(remote));
        onHost.push(await timed(local));
      }
      host.child.kill();
      await term.kill();
      await bench.terminate(sandbox);
      const s = stats(inSandbox);
      const h = stats(onHost);
      const targetP50 = TARGET_P50_MS[runtime];
      process.stderr.write(`${runtime}: sandbox p50 ${s.p50} ms, host pty p50 ${h.p50} ms\n`);
      results.push({
        runtime,
        sandbox: s,
        host: h,
        ratio: ratio(s.p50, h.p50),
        targetP50,
        pass: s.p50 <= targetP50,
      });
    }
    return results;
  },
  async (results) => {
    printTable(
      [
        ["runtime", "sandbox p50", "sandbox p95", "host p50", "host p95", "ratio", "target", ""],
        ...results.map((r) => [
          r.runtime,
          `${r.sandbox.p50.toFixed(1)} ms`,
          `${r.sandbox.p95.toFixed(1)} ms`,
          `${r.host.p50.toFixed(2)} ms`,
          `${r.host.p95.toFixed(2)} ms`,
          `${r.ratio.toFixed(1)}x`,
          `<= ${r.targetP50} ms`,
          passMiss(r.pass),
        ]),
      ],
      [
        `sandbox = one byte to \`${CAT}\` on sandbox.pty until its echo comes back (SDK, WebSocket, daemon, agent, pty)`,
        `host = the same through \`script -qfc '${CAT}' /dev/null\` on the host, its stdin and stdout pipes`,
        `ratio = sandbox p50 / host p50; ${RUNS} interleaved round trips of each after ${WARMUP} warm-ups, one busybox sandbox per runtime`,
      ],
    );
    await writeResults("terminal", { image: IMAGE, runs: RUNS, warmup: WARMUP, results });
  },
);
