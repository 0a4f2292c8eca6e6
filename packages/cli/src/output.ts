import { isPaddockError } from "paddock";

/** Prints a value as JSON (for --json and scripts). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as aligned columns with a header. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join("\n")}\n`);
}

/** Parses repeated `K=V` options into a record. */
export function parsePairs(values: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const at = v.indexOf("=");
    if (at <= 0) throw new UsageError(`${what} must be KEY=VALUE, got "${v}"`);
    out[v.slice(0, at)] = v.slice(at + 1);
  }
  return out;
}

export const collect = (value: string, previous: string[] = []) => [...previous, value];

export class UsageError extends Error {}

/** Prints an error the way a user can act on it, and picks the exit code. */
export function reportError(err: unknown): number {
  if (isPaddockError(err)) {
    process.stderr.write(`error: ${err.message} [${err.code}]\n`);
    const log = err.details?.agentLog;
    if (typeof log === "string" && log.trim())
      process.stderr.write(`sandbox log:\n${log.trim()}\n`);
    return 1;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n`);
    return 2;
  }
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}
