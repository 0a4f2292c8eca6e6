import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import path from "node:path";
import { resultsFile } from "./paths.js";

/** A plain aligned table; console.table would add an index column and quotes. */
export function printTable(rows: string[][], notes: string[] = []): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]?.length ?? 0)));
  const line = (row: string[]) => row.map((cell, c) => cell.padEnd(widths[c]!)).join("  ");
  for (const row of rows) console.log(line(row).trimEnd());
  for (const note of notes) console.log(note);
}

export const passMiss = (pass: boolean) => (pass ? "PASS" : "MISS");

/**
 * Writes bench/results/<name>.json with the machine's load and cpus beside the results (a busy
 * machine moves these numbers a lot), and prints the load so the table is read with it.
 */
export async function writeResults(name: string, fields: Record<string, unknown>): Promise<void> {
  const load = loadavg().map((l) => Math.round(l * 100) / 100);
  console.log(`load average ${load.join(", ")} on ${cpus().length} cpus`);
  const file = resultsFile(name);
  await mkdir(path.dirname(file), { recursive: true });
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadavg: load,
    ...fields,
  };
  await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`results written to ${path.relative(process.cwd(), file) || file}`);
}
