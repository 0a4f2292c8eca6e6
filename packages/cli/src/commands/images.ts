import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import type { Command } from "commander";
import { Images } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { printJson, printTable, UsageError } from "../output.js";
import { byteProgress, statusLine } from "../progress.js";

/** A tar stream of a directory (GNU tar, argument vector) or the bytes of a tarball. */
async function tarSource(
  source: string,
): Promise<{ stream: Readable; size?: number; done: Promise<void> }> {
  const st = await stat(source).catch(() => {
    throw new UsageError(
      `${source} does not exist; give a rootfs directory or a .tar / .tar.gz file`,
    );
  });
  if (st.isFile())
    return { stream: createReadStream(source), size: st.size, done: Promise.resolve() };
  if (!st.isDirectory()) throw new UsageError(`${source} is neither a directory nor a file`);
  const tar = spawn("tar", ["-c", "--numeric-owner", "-C", source, "."], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  tar.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const done = new Promise<void>((resolve, reject) =>
    tar.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`tar of ${source} failed: ${stderr.trim()}`)),
    ),
  );
  return { stream: tar.stdout, done };
}

export function registerImageCommands(program: Command): void {
  const image = program.command("image").description("manage images");

  image
    .command("ls")
    .description("list images (built-ins show ready=false until first built)")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const list = await new Images(cliClientOptions()).list();
      if (opts.json) return printJson(list);
      printTable(
        ["NAME", "SOURCE", "READY", "CREATED"],
        list.map((i) => [i.name, i.source, String(i.ready), i.createdAt ?? "-"]),
      );
    });

  image
    .command("build")
    .description("build a built-in image (busybox, debian) now instead of on first use")
    .argument("<name>", "built-in image name")
    .action(async (name: string) => {
      const status = statusLine(`building image ${name}`);
      await new Images(cliClientOptions()).build(name, { onProgress: (m) => status.update(m) });
      status.done("ready");
    });

  image
    .command("import")
    .description("import a rootfs directory or tarball (.tar or .tar.gz) as an image")
    .argument("<name>", "new image name")
    .argument("<path>", "rootfs directory or tarball")
    .option("--json", "print the image as JSON")
    .action(async (name: string, source: string, opts: { json?: boolean }) => {
      const { stream, size, done } = await tarSource(source);
      const body = Readable.toWeb(
        stream.pipe(byteProgress(`importing ${name}`, size)),
      ) as ReadableStream<Uint8Array>;
      const [info] = await Promise.all([new Images(cliClientOptions()).import(name, body), done]);
      if (opts.json) printJson(info);
      else process.stdout.write(`${info.name}\n`);
    });

  image
    .command("rm")
    .description("remove an imported image")
    .argument("<name>", "image name")
    .action(async (name: string) => {
      await new Images(cliClientOptions()).remove(name);
      process.stdout.write(`${name}\n`);
    });
}
