// Latency statistics: the JavaScript port of sdk/vitsdk/bench/stats.py (definitions in schemas/README.md),
// tested against schemas/vectors/stats.json like the Python, Kotlin and Swift cores.
export const CV_MAX = 0.10;
export const DRIFT_MAX = 0.05;

/** Linear interpolation between closest ranks (numpy's default, R type 7); q in [0, 100]. */
export function percentile(sorted, q) {
  if (sorted.length === 0) throw new Error("percentile of no values");
  const pos = (sorted.length - 1) * q / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Mean of the middle values: floor(n * fraction) dropped at each end (middle 80% by default). */
export function trimmedMean(sorted, fraction = 0.1) {
  const cut = Math.floor(sorted.length * fraction);
  const kept = sorted.slice(cut, sorted.length - cut);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}

/** Sample standard deviation (n - 1); 0 for fewer than two values. */
export function sampleStd(values) {
  const n = values.length;
  if (n < 2) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
}

/** (median of the last third - median of the first third) / overall median, in run order; null below 3 runs. */
export function drift(values) {
  const n = values.length;
  if (n < 3) return null;
  const third = Math.floor(n / 3);
  const byValue = (a, b) => a - b;
  const first = values.slice(0, third).sort(byValue);
  const last = values.slice(n - third).sort(byValue);
  const overall = percentile([...values].sort(byValue), 50);
  if (overall === 0) return 0;
  return (percentile(last, 50) - percentile(first, 50)) / overall;
}

/** The statistics fields of the results schema's `latency` block, for timed samples in milliseconds. */
export function latencyStats(samplesMs, cvMax = CV_MAX, driftMax = DRIFT_MAX) {
  if (samplesMs.length === 0) throw new Error("no timed runs to summarise");
  const s = samplesMs.map(Number).sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const std = sampleStd(s);
  const cv = mean > 0 ? std / mean : 0;
  const d = drift(samplesMs.map(Number));
  const stable = s.length >= 3 && cv <= cvMax && d !== null && Math.abs(d) <= driftMax;
  return {
    runs: s.length, min_ms: s[0], median_ms: percentile(s, 50), mean_ms: mean, p90_ms: percentile(s, 90),
    p99_ms: percentile(s, 99), max_ms: s[s.length - 1], std_ms: std, trimmed_mean_ms: trimmedMean(s), cv,
    stability: {stable, drift: d, cv_max: cvMax, drift_max: driftMax},
  };
}
