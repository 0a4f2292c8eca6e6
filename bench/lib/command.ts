import { spawn } from "node:child_process";
import { once } from "node:events";
import { createReadStream } from "node:fs";

export interface RunOptions {
  /** A host file to give the command as its stdin (its descriptor, as a shell's `< file` would). */
  stdinFile?: string;
  /** Bytes written to the command's stdin through a pipe. */
  stdin?: Uint8Array;
}

/** Runs a command (never through a shell) to completion; rejects with its stderr when it fails. */
export async function run(file: string, args: string[], options: RunOptions = {}): Promise<void> {
  const input = options.stdinFile ? createReadStream(options.stdinFile) : undefined;
  // spawn can hand a stream's descriptor to the child only once the file is open.
  if (input) await once(input, "open");
  try {
    await new Promise<void>((resolve, reject) => {
      const stdin = input ?? (options.stdin ? "pipe" : "ignore");
      const child = spawn(file, args, { stdio: [stdin, "ignore", "pipe"] });
      let stderr = "";
      child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code, signal) =>
        code === 0
          ? resolve()
          : reject(
              new Error(`${file} ${args.join(" ")}: exit ${code ?? signal}: ${stderr.trim()}`),
            ),
      );
      if (options.stdin) {
        // A command that exits early closes the pipe: its exit status tells what happened.
        child.stdin!.on("error", () => {});
        child.stdin!.end(options.stdin);
      }
    });
  } finally {
    input?.destroy();
  }
}
