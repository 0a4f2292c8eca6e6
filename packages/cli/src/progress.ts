import { Transform } from "node:stream";
import cliProgress from "cli-progress";

/** A one-line status that rewrites itself on a terminal and prints plain lines elsewhere. */
export function statusLine(prefix: string): {
  update(message: string): void;
  done(message: string): void;
} {
  const tty = process.stderr.isTTY;
  const width = process.stderr.columns ?? 80;
  return {
    update(message) {
      if (tty) process.stderr.write(`\r\x1b[2K${`${prefix}: ${message}`.slice(0, width - 1)}`);
      else process.stderr.write(`${prefix}: ${message}\n`);
    },
    done(message) {
      if (tty) process.stderr.write("\r\x1b[2K");
      process.stderr.write(`${prefix}: ${message}\n`);
    },
  };
}

/**
 * A pass-through stream that drives a progress bar by bytes seen. On a terminal only; with an
 * unknown total it shows bytes so far.
 */
export function byteProgress(label: string, total: number | undefined): Transform {
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: total ? `${label} [{bar}] {percentage}% {done}/{size}` : `${label} {done}`,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  let seen = 0;
  bar?.start(total ?? 1, 0, { done: mib(0), size: total ? mib(total) : "" });
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      bar?.update(total ? seen : 0, { done: mib(seen) });
      cb(null, chunk);
    },
    flush(cb) {
      bar?.stop();
      cb();
    },
  });
}
