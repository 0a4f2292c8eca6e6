/**
 * Keystroke echo through the web console: a key pressed in headless Chromium (Debian's
 * chromium, driven by Playwright) on the console's xterm.js terminal, through the page's
 * WebSocket, the daemon and the agent to `cat` on the sandbox's pseudo-terminal and back, timed
 * in the page from the key's keydown to the WebSocket message that brings the echo. Beside it in
 * the same run, interleaved: the same byte through the SDK's sandbox.pty (what `paddock shell`
 * uses). The target: the console's p50 within 5 ms of the SDK's. Needs root, a build and
 * chromium; run with `npm run bench -- console`.
 */
import { chromium, type Page } from "playwright-core";
import type { Sandbox } from "paddock";
import type { Runtime } from "./lib/daemon.js";
import { benchMain } from "./lib/main.js";
import { passMiss, printTable, writeResults } from "./lib/report.js";
import { stats, timed, type Stats } from "./lib/stats.js";

const RUNS = 200;
const WARMUP = 20;
const RUNTIMES: Runtime[] = ["runc", "runsc"];
const IMAGE = "busybox";
const CHROMIUM = "/usr/bin/chromium";
/** How much slower than the SDK's the console's p50 may be. */
const TARGET_EXTRA_MS = 5;
/** Raw mode and no echo: each byte reaches cat at once, and only cat sends it back. */
const CAT = "stty raw -echo; exec cat";
/** Letters in turn, so an echo is never mistaken for the one before it. */
const letter = (n: number) => String.fromCharCode(97 + (n % 26));

/**
 * Runs in the page before its own scripts: every WebSocket reports its messages first (before
 * the console's own handler), and a keydown starts the clock of the byte being waited for.
 */
function instrument(): void {
  type Probe = {
    byte: string;
    start?: number;
    sent?: number;
    resolve?: (ms: { total: number; wire: number }) => void;
  };
  const w = window as unknown as { __probe?: Probe };
  const decoder = new TextDecoder();
  addEventListener(
    "keydown",
    () => {
      if (w.__probe && w.__probe.start === undefined) w.__probe.start = performance.now();
    },
    { capture: true },
  );
  const Native = WebSocket;
  window.WebSocket = class extends Native {
    override send(data: Parameters<WebSocket["send"]>[0]): void {
      if (w.__probe?.start !== undefined && w.__probe.sent === undefined) {
        w.__probe.sent = performance.now();
      }
      super.send(data);
    }
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      this.addEventListener("message", (event: MessageEvent<unknown>) => {
        const probe = w.__probe;
        if (!probe?.resolve || probe.start === undefined) return;
        const text =
          event.data instanceof ArrayBuffer ? decoder.decode(event.data) : String(event.data);
        if (!text.includes(probe.byte)) return;
        const now = performance.now();
        probe.resolve({ total: now - probe.start, wire: now - (probe.sent ?? probe.start) });
      });
    }
  };
}

/** The page's measures of one echo (ms): from the keydown, and from the WebSocket send. */
interface Echo {
  total: number;
  wire: number;
}

/** One key pressed in the console, and the page's measure of its echo. */
async function consoleEcho(page: Page, byte: string): Promise<Echo> {
  await page.evaluate((b) => {
    (window as unknown as { __probe: unknown }).__probe = { byte: b };
  }, byte);
  const echoed = page.evaluate(
    () =>
      new Promise<Echo>((resolve, reject) => {
        const probe = (window as unknown as { __probe: { resolve?: (ms: Echo) => void } }).__probe;
        const timer = setTimeout(() => reject(new Error("no echo within 5 s")), 5000);
        probe.resolve = (ms) => {
          clearTimeout(timer);
          resolve(ms);
        };
      }),
  );
  await page.keyboard.press(byte);
  return echoed;
}

/** The same byte through the SDK's terminal, timed from the send to its echo (ms). */
async function sdkTerminal(sandbox: Sandbox): Promise<(byte: string) => Promise<number>> {
  let waiting: { byte: string; done: () => void } | undefined;
  const decoder = new TextDecoder();
  const term = await sandbox.pty.create({
    command: ["sh", "-c", CAT],
    onData: (d) => {
      if (waiting && decoder.decode(d, { stream: true }).includes(waiting.byte)) waiting.done();
    },
  });
  return (byte) =>
    timed(
      () =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no echo of ${byte} within 5 s`)), 5000);
          waiting = {
            byte,
            done: () => {
              clearTimeout(timer);
              waiting = undefined;
              resolve();
            },
          };
          void term.sendInput(byte);
        }),
    );
}

interface Result {
  runtime: Runtime;
  console: Stats;
  /** The console's from its WebSocket send (without the key's way through xterm.js). */
  wire: Stats;
  sdk: Stats;
  /** Console p50 - SDK p50 (ms). */
  extra: number;
  pass: boolean;
}

benchMain(
  [IMAGE],
  async (bench) => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    const results: Result[] = [];
    try {
      for (const runtime of RUNTIMES) {
        const sandbox = await bench.create({ runtime, image: IMAGE });
        const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
        await page.addInitScript(
          (token) => sessionStorage.setItem("paddock.token", token),
          bench.client.token,
        );
        await page.addInitScript(instrument);
        await page.goto(`${bench.client.url}/ui/#/sandboxes/${encodeURIComponent(sandbox.id)}`);
        await page.locator('.console-terminal[data-state="open"]').waitFor({ timeout: 30_000 });
        await page.locator(".console-terminal").click();
        await page.keyboard.type(`${CAT}\n`);
        const sdk = await sdkTerminal(sandbox);
        // The warm-ups also wait out stty: until it has run, an echo could come from the tty.
        for (let i = 0; i < WARMUP; i++) {
          await consoleEcho(page, letter(i));
          await sdk(letter(i));
        }
        const viaConsole: number[] = [];
        const viaWire: number[] = [];
        const viaSdk: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          bench.signal.throwIfAborted();
          const echo = await consoleEcho(page, letter(i));
          viaConsole.push(echo.total);
          viaWire.push(echo.wire);
          viaSdk.push(await sdk(letter(i)));
        }
        await page.close();
        await bench.terminate(sandbox);
        const c = stats(viaConsole);
        const s = stats(viaSdk);
        const extra = Math.round((c.p50 - s.p50) * 10) / 10;
        process.stderr.write(`${runtime}: console p50 ${c.p50} ms, SDK p50 ${s.p50} ms\n`);
        results.push({
          runtime,
          console: c,
          wire: stats(viaWire),
          sdk: s,
          extra,
          pass: extra <= TARGET_EXTRA_MS,
        });
      }
    } finally {
      await browser.close();
    }
    return results;
  },
  async (results) => {
    printTable(
      [
        [
          "runtime",
          "console p50",
          "console p95",
          "from send p50",
          "SDK p50",
          "SDK p95",
          "extra",
          "target",
          "",
        ],
        ...results.map((r) => [
          r.runtime,
          `${r.console.p50.toFixed(1)} ms`,
          `${r.console.p95.toFixed(1)} ms`,
          `${r.wire.p50.toFixed(1)} ms`,
          `${r.sdk.p50.toFixed(1)} ms`,
          `${r.sdk.p95.toFixed(1)} ms`,
          `${r.extra.toFixed(1)} ms`,
          `<= ${TARGET_EXTRA_MS} ms`,
          passMiss(r.pass),
        ]),
      ],
      [
        `console = a key pressed in headless Chromium on the web console's terminal, timed in the page from keydown to the WebSocket message with its echo from \`${CAT}\``,
        "from send = the console's echo timed from the page's WebSocket send instead of the keydown",
        "SDK = the same byte through sandbox.pty (as `paddock shell`), from send to echo",
        `extra = console p50 - SDK p50; ${RUNS} interleaved round trips of each after ${WARMUP} warm-ups, one busybox sandbox per runtime`,
      ],
    );
    await writeResults("console", { image: IMAGE, runs: RUNS, warmup: WARMUP, results });
  },
);
