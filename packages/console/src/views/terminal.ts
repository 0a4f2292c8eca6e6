import "@xterm/xterm/css/xterm.css";
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { ProcessEventSchema, ProcessInfoSchema, StreamErrorMessageSchema } from "@paddock/protocol";
import { sandboxPath } from "../api.js";
import type { Context } from "../context.js";
import { h, type View } from "../dom.js";

const encoder = new TextEncoder();

/** The bytes of a base64 string (the process stream's stderr events). */
function fromBase64(data: string): Uint8Array {
  return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
}

/**
 * A login shell on a pseudo-terminal in the sandbox, shown with xterm.js over the process
 * WebSocket (the same route as the SDK's sandbox.pty): keystrokes go out as binary messages,
 * output comes in as binary, and the terminal's size follows its box, which follows the window.
 * The shell is killed when the page goes, as a closed terminal window would end it.
 */
export function terminalView({ api, notify }: Context, id: string): View {
  const el = h("div", { class: "console-terminal", "data-state": "connecting" });
  const term = new Terminal({
    // A blinking cursor restarts its animation on every key, which held the page's main thread
    // and so the echo's message: about 10 ms more per keystroke in bench/console.ts.
    cursorBlink: false,
    fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace",
    fontSize: 14,
    scrollback: 5000,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  let ws: WebSocket | undefined;
  let pid: number | undefined;
  let disposed = false;
  const observer = new ResizeObserver(() => {
    // A hidden tab has no size: keep the last one.
    if (el.clientWidth > 0 && el.clientHeight > 0) fit.fit();
  });
  const showSize = () => {
    el.dataset.cols = String(term.cols);
    el.dataset.rows = String(term.rows);
  };
  term.onResize(({ cols, rows }) => {
    showSize();
    if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols, rows }));
  });
  const send = (bytes: Uint8Array) => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(bytes);
  };
  term.onData((data) => send(encoder.encode(data)));
  // Raw bytes some programs ask for (mouse reports in X10 mode): one byte per char.
  term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0))));

  const connect = async () => {
    const info = await api.json("POST", sandboxPath(id, "/processes"), ProcessInfoSchema, {
      json: { argv: [], pty: { cols: term.cols, rows: term.rows }, background: true, stdin: true },
    });
    pid = info.pid;
    if (disposed) return void kill();
    const socket = await api.socket(sandboxPath(id, `/processes/${info.pid}/stream?output=true`));
    ws = socket;
    socket.onopen = () => {
      el.dataset.state = "open";
      // The box may have changed while the shell started.
      if (term.cols !== info.pty?.cols || term.rows !== info.pty?.rows) {
        socket.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
      }
    };
    socket.onmessage = (message: MessageEvent<ArrayBuffer | string>) => {
      if (typeof message.data !== "string") return term.write(new Uint8Array(message.data));
      const json: unknown = JSON.parse(message.data);
      const event = ProcessEventSchema.safeParse(json);
      if (event.success) {
        if (event.data.type === "stderr") term.write(fromBase64(event.data.data));
        else if (event.data.type === "exit") {
          const { exitCode, signal } = event.data;
          term.write(`\r\n[process exited: ${signal ?? exitCode}]\r\n`);
        }
        return;
      }
      const error = StreamErrorMessageSchema.safeParse(json);
      if (error.success) notify(new Error(`${error.data.code}: ${error.data.message}`));
    };
    socket.onclose = () => {
      el.dataset.state = "closed";
      if (!disposed) term.write("\r\n[disconnected]\r\n");
    };
  };
  const kill = () => {
    if (pid === undefined) return;
    // keepalive: the kill still goes out when the page is being left.
    void api
      .request("POST", sandboxPath(id, `/processes/${pid}/kill`), {
        json: { signal: "SIGHUP" },
        keepalive: true,
      })
      .catch(() => {});
  };

  return {
    el,
    mounted() {
      term.open(el);
      fit.fit();
      showSize();
      observer.observe(el);
      window.addEventListener("pagehide", kill);
      term.focus();
      connect().catch((err: unknown) => {
        el.dataset.state = "failed";
        notify(err);
      });
    },
    dispose() {
      disposed = true;
      observer.disconnect();
      window.removeEventListener("pagehide", kill);
      ws?.close();
      kill();
      term.dispose();
    },
  };
}
