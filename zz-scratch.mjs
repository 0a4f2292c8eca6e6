import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Sandbox } from "paddock";
const dir = mkdtempSync("/tmp/hp-scratch/d-");
const child = spawn(
  process.execPath,
  [
    "packages/cli/dist/main.js",
    "serve",
    "--port",
    "0",
    "--data-dir",
    dir,
    "--images-dir",
    "/var/tmp/paddock-test-images",
  ],
  { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, PADDOCK_LOG_LEVEL: "warn" } },
);
const url = await new Promise((res) =>
  createInterface({ input: child.stdout }).on("line", (l) => {
    const p = JSON.parse(l);
    if (p.url) res(p.url);
  }),
);
const token = readFileSync(`${dir}/token`, "utf8").trim();
const client = { url, token };
const t = (p) =>
  p.then(
    (v) => ["ok", typeof v === "string" ? v.length : v],
    (e) => ["err", e.name, e.code, e.status, String(e.message).slice(0, 150)],
  );
try {
  for (const runtime of ["runc", "runsc"]) {
    const sb = await Sandbox.create({ ...client, runtime });
    console.log("==", runtime);
    for (const p of [
      "/proc/self/mem",
      "/proc/self/pagemap",
      "/proc/self/environ",
      "/proc/1/mem",
      "/dev/zero",
      "/dev/urandom",
      "/proc/kcore",
      "/sys/kernel/debug",
    ]) {
      const t0 = Date.now();
      console.log(p, await t(sb.fs.readFile(p)), Date.now() - t0, "ms");
    }
    const sh = async (s) => (await sb.process.run(s)).output();
    console.log(
      await sh("ln -s /.paddock /tmp/pd; ls -la /.paddock /.paddock/sock; mount | grep paddock"),
    );
    console.log("list via link", await t(sb.fs.listFiles("/tmp/pd/sock")));
    console.log("write via link", await t(sb.fs.writeFile("/tmp/pd/sock/evil", "x")));
    console.log(await sh("ls -la /.paddock/sock"));
    const long = "/tmp/" + Array.from({ length: 40 }, () => "é".repeat(100)).join("/");
    console.log("long é path", long.length, Buffer.byteLength(long), await t(sb.fs.statFile(long)));
    const long2 = "/" + Array.from({ length: 20 }, () => "a".repeat(200)).join("/");
    console.log("4096ish ascii", long2.length, await t(sb.fs.writeFile(long2.slice(0, 4096), "x")));
    console.log("4097 ascii", await t(sb.fs.writeFile(long2.slice(0, 4097), "x")));
    console.log(
      "batch 255",
      await t(
        sb.fs.uploadFiles([
          { path: "/tmp/b/" + "n".repeat(255), source: Buffer.from("x") },
          { path: "/tmp/b/" + "n".repeat(256), source: Buffer.from("x") },
        ]),
      ),
    );
    console.log(
      "batch dotdot",
      await t(
        sb.fs.uploadFiles([{ path: "/a/../../../../etc/batch-escape", source: Buffer.from("x") }]),
      ),
    );
    console.log("devnull write", await t(sb.fs.writeFile("/dev/null", "x")));
    console.log(await sh("ls -la /dev/null; echo hi > /dev/null && echo ok"));
    await sb.terminate();
  }
} finally {
  child.kill("SIGTERM");
}
