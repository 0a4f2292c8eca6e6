import { it } from "vitest";
import { Sandbox } from "paddock";
import { startDaemon } from "../helpers/daemon.js";
import { mkdtemp, mkdir, writeFile, symlink } from "node:fs/promises";
import path from "node:path";
import { tmpdir } from "node:os";
const show = (p: Promise<unknown>) =>
  p.then(
    (v) => ["ok", JSON.stringify(v)?.slice(0, 300)],
    (e: Error & { code?: string; status?: number }) => [
      "ERR",
      e.name,
      e.code,
      e.status,
      e.message.slice(0, 200),
    ],
  );
it("probe", async () => {
  const d = await startDaemon();
  try {
    for (const runtime of ["runc", "runsc"] as const) {
      const s = await Sandbox.create({ ...d.client, runtime });
      const exec = async (...a: string[]) => (await s.process.exec(a)).output();
      console.log(
        runtime,
        "empty upload",
        await show(s.fs.uploadFile(Buffer.alloc(0), "/tmp/empty")),
      );
      console.log(runtime, "empty read", await show(s.fs.readFile("/tmp/empty")));
      console.log(
        runtime,
        "proc version",
        await show(s.fs.readFile("/proc/version")),
        JSON.stringify((await exec("cat", "/proc/version")).stdout.slice(0, 80)),
      );
      console.log(runtime, "after proc: stat", await show(s.fs.statFile("/tmp/empty")));
      console.log(runtime, "after proc: read", await show(s.fs.readFile("/tmp/empty")));
      console.log(
        runtime,
        "sys",
        await show(s.fs.readFile("/sys/kernel/mm/transparent_hugepage/enabled")),
        JSON.stringify((await exec("cat", "/sys/kernel/mm/transparent_hugepage/enabled")).stdout),
      );
      console.log(runtime, "after sys: read", await show(s.fs.readFile("/tmp/empty")));
      // symlink entry over an existing directory in a batch
      const local = await mkdtemp(path.join(tmpdir(), "probe-"));
      await mkdir(path.join(local, "tgt"));
      await writeFile(path.join(local, "f"), "f");
      await symlink("tgt", path.join(local, "d"));
      await s.fs.createDirectory("/tmp/up/d/inner");
      console.log(runtime, "symlink over dir", await show(s.fs.uploadDirectory(local, "/tmp/up")));
      console.log(runtime, "after", (await exec("ls", "-la", "/tmp/up")).stdout);
      await s.terminate();
    }
  } finally {
    await d.stop();
  }
}, 300000);
