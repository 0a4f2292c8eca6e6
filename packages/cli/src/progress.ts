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

/**
 * A progress bar driven by reported byte counts (a pull's layers), with a status message beside
 * it; plain lines where stderr is no terminal.
 */
export function bytesBar(label: string): {
  update(p: { message: string; completedBytes?: number; totalBytes?: number }): void;
  done(message: string): void;
} {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  if (!process.stderr.isTTY) {
    const status = statusLine(label);
    return {
      update: (p) => {
        if (p.completedBytes === undefined || p.message !== "downloading") status.update(p.message);
      },
      done: (m) => status.done(m),
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% {done}/{size} {message}`,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const total = p.totalBytes ?? 0;
      const payload = {
        message: p.message.slice(0, 40),
        done: mib(p.completedBytes ?? 0),
        size: mib(total),
      };
      if (!started) {
        bar.start(Math.max(total, 1), p.completedBytes ?? 0, payload);
        started = true;
      }
      if (total) bar.setTotal(total);
      bar.update(p.completedBytes ?? bar.getProgress() * Math.max(total, 1), payload);
    },
    done(message) {
      if (started) bar.stop();
      process.stderr.write(`${label}: ${message}\n`);
    },
  };
}
