package dev.vitsdk.benchcore

/**
 * The measurement protocol shared by every device (run_spec.schema.json#/$defs/protocol):
 * load -> first inference -> warm-up until both warmupRuns and warmupSeconds are met -> timed runs
 * until both minRuns and minSeconds are met, or maxRuns / maxSeconds is reached.
 */
data class Protocol(
    val warmupRuns: Int = 10,
    val warmupSeconds: Double = 1.0,
    val minRuns: Int = 50,
    val minSeconds: Double = 5.0,
    val maxRuns: Int? = null,
    val maxSeconds: Double? = 60.0,
    val cooldownSeconds: Double = 2.0,
    val powerSamplePeriodMs: Double = 100.0,
    val idleBaselineSeconds: Double = 5.0,
    val requireUnplugged: Boolean = true,
    val stabilityCvMax: Double = Stats.CV_MAX,
    val stabilityDriftMax: Double = Stats.DRIFT_MAX,
) {
    init {
        require(warmupRuns >= 0) { "protocol warmup_runs must be >= 0" }
        require(minRuns >= 1) { "protocol min_runs must be >= 1" }
        require(warmupSeconds >= 0 && minSeconds >= 0 && cooldownSeconds >= 0 && idleBaselineSeconds >= 0) {
            "protocol seconds must be >= 0"
        }
        require(powerSamplePeriodMs > 0) { "protocol power_sample_period_ms must be > 0" }
        require(maxRuns == null || maxRuns >= 1) { "protocol max_runs must be >= 1" }
        require(maxSeconds == null || maxSeconds > 0) { "protocol max_seconds must be > 0" }
    }

    fun warmupDone(runs: Int, elapsedS: Double): Boolean = runs >= warmupRuns && elapsedS >= warmupSeconds

    fun timingDone(runs: Int, elapsedS: Double): Boolean {
        if (maxRuns != null && runs >= maxRuns) return true
        if (maxSeconds != null && elapsedS >= maxSeconds) return true
        return runs >= minRuns && elapsedS >= minSeconds
    }

    fun toMap(): Map<String, Any?> = linkedMapOf(
        "warmup_runs" to warmupRuns, "warmup_seconds" to warmupSeconds, "min_runs" to minRuns,
        "min_seconds" to minSeconds, "max_runs" to maxRuns, "max_seconds" to maxSeconds,
        "cooldown_seconds" to cooldownSeconds, "power_sample_period_ms" to powerSamplePeriodMs,
        "idle_baseline_seconds" to idleBaselineSeconds, "require_unplugged" to requireUnplugged,
        "stability_cv_max" to stabilityCvMax, "stability_drift_max" to stabilityDriftMax,
    )

    companion object {
        fun fromMap(m: Map<String, Any?>): Protocol {
            val d = Protocol()
            fun dbl(k: String, def: Double) = (m[k] as? Number)?.toDouble() ?: def
            fun int(k: String, def: Int) = (m[k] as? Number)?.toInt() ?: def
            return Protocol(
                warmupRuns = int("warmup_runs", d.warmupRuns), warmupSeconds = dbl("warmup_seconds", d.warmupSeconds),
                minRuns = int("min_runs", d.minRuns), minSeconds = dbl("min_seconds", d.minSeconds),
                maxRuns = if (m.containsKey("max_runs")) (m["max_runs"] as? Number)?.toInt() else d.maxRuns,
                maxSeconds = if (m.containsKey("max_seconds")) (m["max_seconds"] as? Number)?.toDouble() else d.maxSeconds,
                cooldownSeconds = dbl("cooldown_seconds", d.cooldownSeconds),
                powerSamplePeriodMs = dbl("power_sample_period_ms", d.powerSamplePeriodMs),
                idleBaselineSeconds = dbl("idle_baseline_seconds", d.idleBaselineSeconds),
                requireUnplugged = m["require_unplugged"] as? Boolean ?: d.requireUnplugged,
                stabilityCvMax = dbl("stability_cv_max", d.stabilityCvMax),
                stabilityDriftMax = dbl("stability_drift_max", d.stabilityDriftMax),
            )
        }
    }
}

/** What one model's protocol run measured; clock values in seconds of the clock passed to [measure]. */
data class Timings(
    val firstMs: Double,
    val warmupRuns: Int,
    val warmupS: Double,
    val samplesMs: DoubleArray,
    val durationS: Double,
    val tStart: Double,
    val tEnd: Double,
    val stopped: String?,
)

/**
 * Runs first inference, warm-up and the timed phase. An exception in the timed phase ends it with the
 * samples so far and `stopped` set, so a failing device still yields partial results.
 */
fun measure(protocol: Protocol, clock: () -> Double, runOnce: () -> Unit): Timings {
    val t0 = clock()
    runOnce()
    val firstMs = (clock() - t0) * 1e3
    val w0 = clock()
    var warm = 0
    while (!protocol.warmupDone(warm, clock() - w0)) {
        runOnce(); warm++
    }
    val warmupS = clock() - w0
    val samples = ArrayList<Double>()
    var stopped: String? = null
    val start = clock()
    var now = start
    while (!protocol.timingDone(samples.size, now - start)) {
        val before = clock()
        try {
            runOnce()
        } catch (e: Exception) {
            stopped = "${e::class.simpleName}: ${e.message}"
            now = clock()
            break
        }
        now = clock()
        samples.add((now - before) * 1e3)
    }
    return Timings(firstMs, warm, warmupS, samples.toDoubleArray(), now - start, start, now, stopped)
}
