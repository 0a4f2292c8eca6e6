import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, readdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
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
  { stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, PADDOCK_LOG_LEVEL: "warn" } },
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
    (v) => ["ok", typeof v === "string" ? v.length : JSON.stringify(v).slice(0, 200)],
    (e) => ["err", e.name, e.code, e.status, String(e.message).slice(0, 150)],
  );
try {
  for (const runtime of ["runc", "runsc"]) {
    const sb = await Sandbox.create({ ...client, runtime });
    console.log("==", runtime);
    const sh = async (s) => (await sb.process.run(s)).output();
    for (const p of [
      "/dev/full",
      "/dev/random",
      "/dev/tty",
      "/dev/ptmx",
      "/proc/self/fd/0",
      "/proc/self/task",
    ])
      console.log(p, await t(sb.fs.readFile(p)));
    console.log(await sh("mknod /tmp/nul c 1 3; ls -la /tmp/nul; mkfifo /tmp/ff; ls -la /dev"));
    console.log(
      "write fifo",
      await t(sb.fs.writeFile("/tmp/ff", "x")),
      (await sh("ls -la /tmp/ff")).stdout,
    );
    for (let round = 0; round < 3; round++) {
      await sh("rm -rf /tmp/swap; mkdir -p /tmp/swap/dir");
      const slow = Readable.from(
        (async function* () {
          for (let i = 0; i < 40; i++) {
            yield Buffer.alloc(1 << 20, 97);
            await sleep(50);
          }
        })(),
      );
      const up = t(sb.fs.uploadFile(slow, "/tmp/swap/dir/file"));
      const swap = sh(
        `end=$(( $(date +%s) + 3 )); n=0; while [ "$(date +%s)" -lt "$end" ]; do rm -rf /tmp/swap/dir && ln -s /etc /tmp/swap/dir; n=$((n+1)); rm -f /tmp/swap/dir && mkdir /tmp/swap/dir; done; echo $n`,
      );
      console.log("swap", round, await up, (await swap).stdout.trim(), existsSync("/etc/file"));
      console.log(
        (
          await sh(
            "ls -la /etc/file /tmp/swap/dir/ 2>&1; find / -xdev -name '.paddock-*' 2>/dev/null",
          )
        ).stdout,
      );
    }
    console.log(readdirSync("/etc").filter((n) => n.startsWith(".paddock") || n === "file"));
    const t0 = Date.now();
    console.log(
      await sh("mkdir /tmp/many && cd /tmp/many && seq 10000 | xargs touch && ls | wc -l"),
      Date.now() - t0,
    );
    const t1 = Date.now();
    const l = await sb.fs.listFiles("/tmp/many");
    console.log("list", l.length, Date.now() - t1);
    const t2 = Date.now();
    console.log(
      "dl",
      await sb.fs.downloadDirectory("/tmp/many", mkdtempSync("/tmp/hp-scratch/many-")),
      Date.now() - t2,
    );
    await sb.terminate();
  }
} finally {
  child.kill("SIGTERM");
}
