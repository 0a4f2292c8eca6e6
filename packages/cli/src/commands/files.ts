import { stat } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { Sandbox, type FileEntry } from "paddock";
import { cliClientOptions } from "../client-options.js";
import { printJson, printTable, UsageError } from "../output.js";

/** `sb_…:/path` names a path in a sandbox; anything else is local. */
export function parseRemote(arg: string): { id: string; path: string } | undefined {
  const m = /^(sb_[a-z0-9]+):(.*)$/.exec(arg);
  if (!m) return undefined;
  if (!m[2]!.startsWith("/"))
    throw new UsageError(`${arg}: the path in the sandbox must be absolute (ID:/path)`);
  return { id: m[1]!, path: m[2]! };
}

function requireRemote(arg: string): { id: string; path: string } {
  const remote = parseRemote(arg);
  if (!remote) throw new UsageError(`${arg} is not ID:/path`);
  return remote;
}

/** A byte progress bar on a terminal for transfers over 1 MiB; nothing elsewhere. */
function progressBar(label: string): {
  update(bytes: number, total: number | undefined): void;
  stop(): void;
} {
  let bar: cliProgress.SingleBar | undefined;
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  return {
    update(bytes, total) {
      if (!process.stderr.isTTY || (total ?? 0) < 1024 * 1024) return;
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: `${label} [{bar}] {percentage}% {done}/{size} {speed}`,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total!, 0, { done: mib(0), size: mib(total!), speed: "" });
      }
      bar.update(bytes, { done: mib(bytes) });
    },
    stop: () => bar?.stop(),
  };
}

async function copy(src: string, dst: string): Promise<string> {
  const from = parseRemote(src);
  const to = parseRemote(dst);
  if (from && to)
    throw new UsageError("copy between two sandboxes is not supported; go through a local path");
  if (!from && !to) throw new UsageError("one side must be ID:/path");
  const options = cliClientOptions();

  if (to) {
    const sandbox = await Sandbox.connect(to.id, options);
    if (src === "-") {
      await sandbox.fs.uploadFile(process.stdin, to.path);
      return to.path;
    }
    const st = await stat(src).catch(() => {
      throw new UsageError(`${src} does not exist`);
    });
    if (st.isDirectory()) {
      const results = await sandbox.fs.uploadDirectory(src, to.path);
      const failed = results.filter((r) => !r.ok);
      for (const f of failed) process.stderr.write(`error: ${f.path}: ${f.error?.message}\n`);
      if (failed.length)
        throw new UsageError(`${failed.length} of ${results.length} entries failed`);
      return `${to.path} (${results.length} entries)`;
    }
    const target = to.path.endsWith("/") ? path.posix.join(to.path, path.basename(src)) : to.path;
    const bar = progressBar(`upload ${path.basename(src)}`);
    try {
      await sandbox.fs.uploadFile(src, target, {
        mode: st.mode & 0o7777,
        onProgress: (n, total) => bar.update(n, total),
      });
    } finally {
      bar.stop();
    }
    return target;
  }

  const sandbox = await Sandbox.connect(from!.id, options);
  if (dst === "-") {
    await sandbox.fs.downloadFile(from!.path, process.stdout);
    return "";
  }
  const entry = await sandbox.fs.statFile(from!.path);
  if (entry.type === "dir") {
    const count = await sandbox.fs.downloadDirectory(from!.path, dst);
    return `${dst} (${count} entries)`;
  }
  const local = await stat(dst).then(
    (st) => (st.isDirectory() ? path.join(dst, entry.name) : dst),
    () => dst,
  );
  const bar = progressBar(`download ${entry.name}`);
  try {
    await sandbox.fs.downloadFile(from!.path, local, {
      onProgress: (n, total) => bar.update(n, total),
    });
  } finally {
    bar.stop();
  }
  return local;
}

const modeText = (m: number) => `0${m.toString(8).padStart(3, "0")}`;

function describeEntry(e: FileEntry): string {
  const rows: [string, string][] = [
    ["path", e.path],
    ["type", e.type],
    ["size", String(e.size)],
    ["mode", modeText(e.mode)],
    ["owner", `${e.uid}:${e.gid}`],
    ["mtime", e.mtime],
  ];
  if (e.symlinkTarget !== null) rows.push(["target", e.symlinkTarget]);
  return rows.map(([k, v]) => `${k.padEnd(6)} ${v}`).join("\n");
}

export function registerFileCommands(program: Command): void {
  program
    .command("cp")
    .description(
      "copy files or directories between here and a sandbox (ID:/path on one side; - for stdin/stdout)",
    )
    .argument("<src>", "local path, - or ID:/path")
    .argument("<dst>", "local path, - or ID:/path")
    .addHelpText(
      "after",
      "\nExamples:\n  paddock cp ./app sb_123:/app\n  paddock cp sb_123:/app/out.csv .\n  tar c . | paddock cp - sb_123:/tmp/src.tar",
    )
    .action(async (src: string, dst: string) => {
      const where = await copy(src, dst);
      if (where) process.stderr.write(`copied to ${where}\n`);
    });

  const fs = program.command("fs").description("look at and change files in a sandbox");

  fs.command("ls")
    .description("list a directory")
    .argument("<target>", "ID:/path")
    .option("--json", "print JSON")
    .action(async (target: string, opts: { json?: boolean }) => {
      const { id, path: p } = requireRemote(target);
      const entries = await (await Sandbox.connect(id, cliClientOptions())).fs.listFiles(p);
      if (opts.json) return printJson(entries);
      printTable(
        ["TYPE", "MODE", "SIZE", "MTIME", "NAME"],
        entries.map((e) => [
          e.type,
          modeText(e.mode),
          String(e.size),
          e.mtime,
          e.symlinkTarget ? `${e.name} -> ${e.symlinkTarget}` : e.name,
        ]),
      );
    });

  fs.command("stat")
    .description("describe a path")
    .argument("<target>", "ID:/path")
    .option("--json", "print JSON")
    .action(async (target: string, opts: { json?: boolean }) => {
      const { id, path: p } = requireRemote(target);
      const entry = await (await Sandbox.connect(id, cliClientOptions())).fs.statFile(p);
      if (opts.json) printJson(entry);
      else process.stdout.write(`${describeEntry(entry)}\n`);
    });

  fs.command("rm")
    .description("delete a file or directory")
    .argument("<target>", "ID:/path")
    .option("-r, --recursive", "delete a directory and everything in it")
    .action(async (target: string, opts: { recursive?: boolean }) => {
      const { id, path: p } = requireRemote(target);
      await (
        await Sandbox.connect(id, cliClientOptions())
      ).fs.deleteFile(p, { recursive: Boolean(opts.recursive) });
    });

  fs.command("watch")
    .description("print a directory's changes as they happen, until Ctrl-C or it is removed")
    .argument("<target>", "ID:/path of a directory")
    .option("-r, --recursive", "also every directory below it")
    .option("--json", "print one JSON line per event")
    .action(async (target: string, opts: { recursive?: boolean; json?: boolean }) => {
      const { id, path: p } = requireRemote(target);
      const sandbox = await Sandbox.connect(id, cliClientOptions());
      const watch = await sandbox.fs.watch(p, { recursive: Boolean(opts.recursive) });
      process.stderr.write(`watching ${watch.path} (Ctrl-C to stop)\n`);
      for await (const event of watch) {
        if (opts.json) process.stdout.write(`${JSON.stringify(event)}\n`);
        else if (event.type === "overflow")
          process.stderr.write("some changes were lost (the sandbox's queue overflowed)\n");
        else
          process.stdout.write(`${event.type.padEnd(6)} ${event.name}${event.isDir ? "/" : ""}\n`);
      }
    });

  fs.command("mkdir")
    .description("create a directory (and its parents)")
    .argument("<target>", "ID:/path")
    .option("--mode <octal>", "permission bits, e.g. 755")
    .option("--json", "print JSON")
    .action(async (target: string, opts: { mode?: string; json?: boolean }) => {
      const { id, path: p } = requireRemote(target);
      if (opts.mode !== undefined && !/^0?[0-7]{3,4}$/.test(opts.mode))
        throw new UsageError("--mode is octal, like 755");
      const entry = await (
        await Sandbox.connect(id, cliClientOptions())
      ).fs.createDirectory(p, {
        mode: opts.mode === undefined ? undefined : parseInt(opts.mode, 8),
      });
      if (opts.json) printJson(entry);
    });
}
