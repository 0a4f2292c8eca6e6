/**
 * The Node driver, run by the agent's node as `node -e NODE_DRIVER TOKEN LIMIT`. The same
 * protocol as the Python driver (python-driver.ts): one JSON line per run on stdin; the code's
 * output passes through; `\0TOKEN` + result JSON + `\n` on stdout and `\0TOKEN\n` on stderr end
 * a run. The code runs as a script in the global context, like the node REPL: `let`, `const`,
 * functions and `require` persist between runs. A completion value that is a promise is awaited.
 * SIGINT stops a running script (breakOnSigint) or abandons the awaited promise; between runs it
 * is ignored. An error thrown later (a timer, an unhandled rejection) is printed, not fatal.
 * The driver keeps its own references, so code that replaces globals cannot break it.
 */
export const NODE_DRIVER = String.raw`
"use strict";
(() => {
  const vm = require("node:vm");
  const util = require("node:util");
  const token = "\0" + process.argv.splice(1, 1)[0];
  const limit = Number(process.argv.splice(1, 1)[0]) || 1 << 20;
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const inspect = util.inspect;
  let interrupt = null;
  let n = 0;

  process.on("SIGINT", () => interrupt && interrupt());
  process.on("uncaughtException", (e) => err("Uncaught " + inspect(e) + "\n"));
  process.on("unhandledRejection", (e) => err("Uncaught (in promise) " + inspect(e) + "\n"));

  const describe = (e) => {
    if (!(e instanceof Error) && !(e && typeof e === "object" && "stack" in e))
      return { name: "Error", message: "Uncaught " + inspect(e), traceback: "Uncaught " + inspect(e) };
    const lines = String(e.stack ?? "").split("\n");
    const own = lines.findIndex((l) => /\[eval\]|node:vm|node:internal\/vm/.test(l));
    return {
      name: String(e.name ?? "Error"),
      message: String(e.message ?? ""),
      traceback: (own >= 0 ? lines.slice(0, own) : lines).join("\n"),
    };
  };

  const awaited = (value) =>
    new Promise((resolve, reject) => {
      interrupt = () => reject(new Error("Script execution interrupted."));
      value.then(resolve, reject);
    });

  const run = async (code) => {
    n += 1;
    const script = new vm.Script(code, { filename: "<code-" + n + ">" });
    let value = script.runInThisContext({ breakOnSigint: true, displayErrors: false });
    if (value !== null && typeof value === "object" && typeof value.then === "function")
      value = await awaited(value);
    if (value === undefined) return null;
    const text = inspect(value);
    return text.length > limit ? text.slice(0, limit) + "... (cut at " + limit + " characters)" : text;
  };

  let pending = "";
  let queue = Promise.resolve();
  const handle = async (line) => {
    const result = { value: null, error: null };
    try {
      result.value = await run(parse(line).code);
    } catch (e) {
      try {
        result.error = describe(e);
      } catch {
        result.error = { name: "Error", message: "(an error that cannot be shown)", traceback: "" };
      }
    }
    interrupt = null;
    out(token + stringify(result) + "\n");
    err(token + "\n");
  };
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      queue = queue.then(() => handle(line));
    }
  });
})();
`;
