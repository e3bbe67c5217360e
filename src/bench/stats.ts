/** Order statistics of latency samples (milliseconds, rounded to the microsecond). */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  n: number;
}

/** Nearest-rank percentiles; NaN for no samples. */
export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => {
    if (sorted.length === 0) return NaN;
    const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return roundMs(sorted[index] as number);
  };
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), n: sorted.length };
}

export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** `p50 1.2 ms, p90 …` for a report line. */
export function describePercentiles(p: Percentiles): string {
  return `p50 ${p.p50} ms, p90 ${p.p90} ms, p99 ${p.p99} ms, max ${p.max} ms (n=${p.n})`;
}
