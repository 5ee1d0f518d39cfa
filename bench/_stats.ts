/**
 * Small helpers shared by the scenarios: order statistics, bounded waits,
 * progress lines and number formatting.
 *
 * @module
 */

/** The q-quantile (0 ≤ q ≤ 1) of the values, by the nearest-rank method. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** The median, p90, p99 and max of the values, rounded to 0.01. */
export function summary(values: readonly number[]): {
  median: number;
  p90: number;
  p99: number;
  max: number;
  count: number;
} {
  return {
    median: round(quantile(values, 0.5)),
    p90: round(quantile(values, 0.9)),
    p99: round(quantile(values, 0.99)),
    max: round(values.length === 0 ? NaN : Math.max(...values)),
    count: values.length,
  };
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** A scenario could not finish or lost correctness: the bench fails. */
export class BenchError extends Error {
  override name = "BenchError";
}

/**
 * Rejects with a {@linkcode BenchError} if the promise takes longer than
 * `ms`: every wait in the bench is bounded.
 */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BenchError(`Timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const started = performance.now();

/** Writes a progress line to standard error, with the seconds since the bench began. */
export function progress(text: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  console.error(`[bench ${seconds}s] ${text}`);
}

/** `12345.6` → `12,346`. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}
