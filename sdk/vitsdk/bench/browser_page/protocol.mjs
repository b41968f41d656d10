// The measurement protocol (sdk/vitsdk/bench/protocol.py) in JavaScript: first inference, warm-up until
// both warmup_runs and warmup_seconds are met, then timed runs until both min_runs and min_seconds are met
// or max_runs / max_seconds is reached. Tested against schemas/vectors/schedule.json on a simulated clock.

export function warmupDone(p, runs, elapsedS) {
  return runs >= p.warmup_runs && elapsedS >= p.warmup_seconds;
}

export function timingDone(p, runs, elapsedS) {
  if (p.max_runs != null && runs >= p.max_runs) return true;
  if (p.max_seconds != null && elapsedS >= p.max_seconds) return true;
  return runs >= p.min_runs && elapsedS >= p.min_seconds;
}

/**
 * Runs `runOnce` (async) through the protocol; `clock()` returns seconds. An exception in the timed phase
 * stops it and keeps the samples so far, with `stopped` saying why (like the Python core).
 */
export async function measure(runOnce, p, clock) {
  const t0 = clock();
  await runOnce();
  const firstMs = (clock() - t0) * 1e3;

  const w0 = clock();
  let warm = 0;
  while (!warmupDone(p, warm, clock() - w0)) {
    await runOnce();
    warm += 1;
  }
  const warmupS = clock() - w0;

  const samples = [];
  let stopped = null;
  const start = clock();
  let now = start;
  while (!timingDone(p, samples.length, now - start)) {
    const before = clock();
    try {
      await runOnce();
    } catch (err) {
      stopped = `${err && err.name ? err.name : "Error"}: ${err && err.message ? err.message : err}`;
      now = clock();
      break;
    }
    now = clock();
    samples.push((now - before) * 1e3);
  }
  return {firstMs, warmupRuns: warm, warmupS, samplesMs: samples, durationS: now - start, tStart: start,
          tEnd: now, stopped};
}
