import { execFile } from "node:child_process";

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${command} failed (exit ${exitCode ?? "signal"}): ${stderr.trim() || "no output"}`,
      options,
    );
    this.name = "CommandError";
  }
}

/**
 * Runs a program with an argument vector, never through a shell, and returns its stdout.
 * Non-zero exit throws a CommandError carrying stderr.
 */
export function run(
  file: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
        env: options.env ?? process.env,
        killSignal: "SIGKILL",
      },
      (err, stdout, stderr) => {
        if (err) {
          const code = typeof err.code === "number" ? err.code : null;
          reject(
            new CommandError([file, ...args].join(" "), code, stderr || err.message, {
              cause: err,
            }),
          );
        } else {
          resolve(stdout);
        }
      },
    );
  });
}
