export interface Stats {
  p50: number;
  p95: number;
  samples: number[];
}

/** Rounded to 0.1, as the results are written. */
export const round1 = (n: number) => Math.round(n * 10) / 10;

/** Nearest-rank percentile: a value that was actually measured. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** p50 and p95 (nearest rank) with the samples, all rounded to 0.1. */
export function stats(samples: number[]): Stats {
  return {
    p50: round1(percentile(samples, 50)),
    p95: round1(percentile(samples, 95)),
    samples: samples.map(round1),
  };
}

/** a / b rounded to two decimals, for the ratio columns. */
export const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

/** Milliseconds `fn` took, by the monotonic clock. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}
