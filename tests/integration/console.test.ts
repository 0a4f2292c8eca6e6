import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { chromium, type Browser, type Download, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it, onTestFailed } from "vitest";
import WebSocket from "ws";
import { WS_PROTOCOL, WS_TICKET_PROTOCOL_PREFIX } from "@paddock/protocol";
import { startDaemon, type TestDaemon } from "../helpers/daemon.js";
import { REPO } from "../helpers/paths.js";

/** Debian's chromium (scripts/setup.sh): Playwright never downloads a browser here. */
const CHROMIUM = "/usr/bin/chromium";
/** Screenshots of the pages open when a test failed (gitignored). */
const ARTIFACTS = path.join(REPO, "tests/.artifacts/console");

let daemon: TestDaemon;
let browser: Browser;
let page: Page;
/** The sandbox the console made, for the later steps and for cleanup. */
let sandboxId: string | undefined;

beforeAll(async () => {
  [daemon, browser] = await Promise.all([
    startDaemon(),
    chromium.launch({ executablePath: CHROMIUM, headless: true }),
  ]);
  page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
});
afterAll(async () => {
  await browser?.close();
  if (sandboxId) await daemon?.api("DELETE", `/v1/sandboxes/${sandboxId}`);
  await daemon?.stop();
});

/** Keeps a screenshot of every open page if the running test fails. */
function screenshotOnFailure(name: string): void {
  onTestFailed(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    for (const [i, open] of browser
      .contexts()
      .flatMap((c) => c.pages())
      .entries()) {
      const file = path.join(ARTIFACTS, `${name}-${i}.png`);
      await open.screenshot({ path: file, fullPage: true }).catch(() => {});
      process.stderr.write(`console screenshot: ${file} (${open.url()})\n`);
    }
  });
}

/** The terminal's lines as shown (xterm's DOM renderer draws one element per row). */
async function terminalLines(): Promise<string[]> {
  const rows = await page.locator(".console-terminal .xterm-rows > div").allInnerTexts();
  return rows.map((r) => r.replace(/\u00a0/g, " ").trimEnd());
}

async function waitForLine(line: string): Promise<void> {
  await expect
    .poll(terminalLines, { timeout: 15_000, message: `a terminal line "${line}"` })
    .toContain(line);
}

it("serves the console's files without a token, with a CSP, and the API still wants one", async () => {
  const index = await fetch(`${daemon.url}/ui/`);
  expect(index.status).toBe(200);
  expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
  expect(index.headers.get("content-security-policy")).toContain("script-src 'self'");
  const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(await index.text())![1]!;
  const asset = await fetch(daemon.url + script);
  expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
  expect(asset.headers.get("cache-control")).toContain("immutable");
  expect((await fetch(`${daemon.url}/v1/keys`)).status).toBe(401);
  expect((await fetch(`${daemon.url}/ui/nothing-here.js`)).status).toBe(404);
});

it("signs in with the key kept in session storage, and creates a sandbox from the form", async () => {
  screenshotOnFailure("create");
  await page.goto(`${daemon.url}/ui/`);
  await page.fill("#token", daemon.token);
  await page.click("button[type=submit]");
  await page.locator("#sign-out").waitFor({ timeout: 10_000 });
  expect(await page.evaluate(() => sessionStorage.getItem("paddock.token"))).toBe(daemon.token);
  expect(page.url()).not.toContain(daemon.token);
  // The admin token also sees API keys.
  await expect.poll(() => page.locator("nav a", { hasText: "API keys" }).count()).toBe(1);

  await page.fill("input[name=image]", "busybox");
  await page.selectOption("select[name=runtime]", "runsc");
  await page.fill("input[name=memoryMiB]", "256");
  await page.fill("input[name=timeoutSeconds]", "600");
  await page.click("form.create button[type=submit]");
  await page.waitForURL(/#\/sandboxes\/[^/]+$/, { timeout: 30_000 });
  sandboxId = decodeURIComponent(new URL(page.url()).hash.split("/").pop()!);
  const info = (await (await daemon.api("GET", `/v1/sandboxes/${sandboxId}`)).json()) as {
    runtime: string;
    memoryMiB: number;
  };
  expect(info).toMatchObject({ runtime: "runsc", memoryMiB: 256 });
});

it("runs a terminal: echo hi comes back, and its size follows the window", async () => {
  screenshotOnFailure("terminal");
  const terminal = page.locator(".console-terminal");
  await page.locator('.console-terminal[data-state="open"]').waitFor({ timeout: 15_000 });
  await terminal.click();
  await page.keyboard.type("echo hi\n");
  await waitForLine("hi");

  const size = async () => {
    const [cols, rows] = await Promise.all([
      terminal.getAttribute("data-cols"),
      terminal.getAttribute("data-rows"),
    ]);
    return `${rows} ${cols}`;
  };
  const before = await size();
  await page.setViewportSize({ width: 800, height: 600 });
  await expect.poll(size, { timeout: 5_000 }).not.toBe(before);
  const after = await size();
  await page.keyboard.type("clear; stty size\n");
  await waitForLine(after);
});

it("uploads a file and lists it, then shows the terminal's shell among the processes", async () => {
  screenshotOnFailure("files");
  await page.click(".tabs button:text-is('Files')");
  await page.locator('.files[data-dir="/"]').waitFor({ timeout: 10_000 });
  await page.fill("input[name=path]", "/tmp");
  await page.click(".files button[type=submit]");
  await page.locator('.files[data-dir="/tmp"]').waitFor({ timeout: 10_000 });
  await page.setInputFiles("input[name=upload]", {
    name: "from-browser.txt",
    mimeType: "text/plain",
    buffer: Buffer.from("uploaded through the console\n"),
  });
  await page.locator('.files tr[data-name="from-browser.txt"]').waitFor({ timeout: 10_000 });
  const file = await daemon.api(
    "GET",
    `/v1/sandboxes/${sandboxId}/files?path=/tmp/from-browser.txt`,
  );
  expect(await file.text()).toBe("uploaded through the console\n");

  await page.click(".tabs button:text-is('Processes')");
  await expect
    .poll(() => page.locator(".processes td.argv").allInnerTexts(), { timeout: 10_000 })
    .toContain("/bin/sh");
});

it("downloads a file and a directory's tar through the browser's download manager; a ticket link works once", async () => {
  screenshotOnFailure("downloads");
  /** Clicks a row's download button and waits for the download to finish. */
  const download = async (name: string): Promise<{ download: Download; bytes: Buffer }> => {
    const [started] = await Promise.all([
      page.waitForEvent("download", { timeout: 10_000 }),
      page.click(`.files tr[data-name="${name}"] button.download`),
    ]);
    expect(await started.failure()).toBeNull();
    return { download: started, bytes: await readFile((await started.path())!) };
  };
  const openDir = async (dir: string) => {
    await page.fill("input[name=path]", dir);
    await page.click(".files button[type=submit]");
    await page.locator(`.files[data-dir="${dir}"]`).waitFor({ timeout: 10_000 });
  };
  await page.click(".tabs button:text-is('Files')");
  await openDir("/");
  const tar = await download("tmp");
  expect(tar.download.suggestedFilename()).toBe("tmp.tar");
  // A tar keeps names and contents as they are, in 512-byte blocks.
  expect(tar.bytes.length % 512).toBe(0);
  expect(tar.bytes.toString("latin1")).toContain("from-browser.txt");
  expect(tar.bytes.toString("latin1")).toContain("uploaded through the console\n");

  await openDir("/tmp");
  const file = await download("from-browser.txt");
  expect(file.download.suggestedFilename()).toBe("from-browser.txt");
  expect(file.bytes.toString()).toBe("uploaded through the console\n");
  // A link to the daemon itself (no blob built in the page), with a ticket and never the key.
  const url = new URL(file.download.url(), daemon.url);
  expect(url.origin).toBe(new URL(daemon.url).origin);
  expect(url.searchParams.get("ticket")).toBeTruthy();
  expect(url.href).not.toContain(daemon.token);
  expect((await fetch(url)).status).toBe(401);
});

it("lets a WebSocket in with a ticket once (the console's way: never the key in a URL)", async () => {
  const id = sandboxId!;
  const ticket = await daemon.api("POST", "/v1/ws-tickets");
  expect(ticket.status).toBe(201);
  const { ticket: value } = (await ticket.json()) as { ticket: string };
  const started = await daemon.api("POST", `/v1/sandboxes/${id}/processes`, {
    argv: ["sleep", "30"],
    background: true,
  });
  const { pid } = (await started.json()) as { pid: number };
  const url = `${daemon.url.replace("http", "ws")}/v1/sandboxes/${id}/processes/${pid}/stream?output=false`;
  const open = (protocols: string[]) =>
    new Promise<{ protocol?: string; status?: number }>((resolve) => {
      const ws = new WebSocket(url, protocols);
      ws.once("open", () => {
        resolve({ protocol: ws.protocol });
        ws.close();
      });
      ws.once("unexpected-response", (_req, res) => resolve({ status: res.statusCode }));
    });
  const protocols = [WS_PROTOCOL, `${WS_TICKET_PROTOCOL_PREFIX}${value}`];
  // The ticket's own entry is not echoed back.
  expect(await open(protocols)).toEqual({ protocol: WS_PROTOCOL });
  expect(await open(protocols)).toEqual({ status: 401 });
  expect(await open([WS_PROTOCOL, `${WS_TICKET_PROTOCOL_PREFIX}made-up`])).toEqual({
    status: 401,
  });
});

it("lets the admin create and revoke API keys; a key's own session has no keys page", async () => {
  screenshotOnFailure("keys");
  await page.goto(`${daemon.url}/ui/#/keys`);
  await page.fill(".keys input[name=name]", "console-test");
  await page.click(".keys button[type=submit]");
  const key = await page.locator(".keys .secret code").innerText({ timeout: 10_000 });
  expect(key).toMatch(/\S{20,}/);

  const other = await browser.newPage();
  try {
    await other.goto(`${daemon.url}/ui/`);
    await other.fill("#token", key);
    await other.click("button[type=submit]");
    await other.locator("#sign-out").waitFor({ timeout: 10_000 });
    expect(await other.locator("nav a", { hasText: "API keys" }).count()).toBe(0);
  } finally {
    await other.close();
  }

  page.once("dialog", (dialog) => void dialog.accept());
  await page.click('.keys tr[data-name="console-test"] button');
  await expect
    .poll(() => page.locator('.keys tr[data-name="console-test"]').innerText(), { timeout: 10_000 })
    .toContain("revoked");
  await page.goto(`${daemon.url}/ui/#/sandboxes/${sandboxId}`);
  await page.locator(".console-terminal").waitFor({ timeout: 10_000 });
});

it("terminates the sandbox", async () => {
  screenshotOnFailure("terminate");
  page.once("dialog", (dialog) => void dialog.accept());
  await page.click("#terminate");
  await page.waitForURL(/#\/$/, { timeout: 30_000 });
  const info = (await (await daemon.api("GET", `/v1/sandboxes/${sandboxId}`)).json()) as {
    state: string;
  };
  expect(info.state).toBe("terminated");
  sandboxId = undefined;
});
