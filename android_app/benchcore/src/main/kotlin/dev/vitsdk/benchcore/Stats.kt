package dev.vitsdk.benchcore

import kotlin.math.abs
import kotlin.math.floor
import kotlin.math.sqrt

/** Latency statistics, defined in schemas/README.md and checked against schemas/vectors/stats.json. */
object Stats {
    const val CV_MAX = 0.10
    const val DRIFT_MAX = 0.05

    /** Linear interpolation between closest ranks (numpy's default); q in [0, 100]. */
    fun percentile(sorted: DoubleArray, q: Double): Double {
        require(sorted.isNotEmpty()) { "percentile of no values" }
        val pos = (sorted.size - 1) * q / 100.0
        val lo = floor(pos).toInt()
        val hi = minOf(lo + 1, sorted.size - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
    }

    /** Mean of the middle values: floor(n * fraction) dropped at each end. */
    fun trimmedMean(sorted: DoubleArray, fraction: Double = 0.1): Double {
        val cut = floor(sorted.size * fraction).toInt()
        val kept = sorted.copyOfRange(cut, sorted.size - cut)
        return kept.sum() / kept.size
    }

    /** Sample standard deviation (n - 1); 0 for fewer than two values. */
    fun sampleStd(values: DoubleArray): Double {
        if (values.size < 2) return 0.0
        val mean = values.sum() / values.size
        return sqrt(values.sumOf { (it - mean) * (it - mean) } / (values.size - 1))
    }

    /** (median of last third - median of first third) / median, in run order; null below 3 runs. */
    fun drift(values: DoubleArray): Double? {
        val n = values.size
        if (n < 3) return null
        val third = n / 3
        val first = values.copyOfRange(0, third).sortedArray()
        val last = values.copyOfRange(n - third, n).sortedArray()
        val overall = percentile(values.sortedArray(), 50.0)
        if (overall == 0.0) return 0.0
        return (percentile(last, 50.0) - percentile(first, 50.0)) / overall
    }
}

data class LatencyStats(
    val runs: Int,
    val minMs: Double,
    val medianMs: Double,
    val meanMs: Double,
    val p90Ms: Double,
    val p99Ms: Double,
    val maxMs: Double,
    val stdMs: Double,
    val trimmedMeanMs: Double,
    val cv: Double,
    val drift: Double?,
    val stable: Boolean,
    val cvMax: Double,
    val driftMax: Double,
) {
    /** The statistics fields of the results schema's `latency` block. */
    fun toMap(): Map<String, Any?> = linkedMapOf(
        "min_ms" to minMs, "median_ms" to medianMs, "mean_ms" to meanMs, "p90_ms" to p90Ms,
        "p99_ms" to p99Ms, "max_ms" to maxMs, "std_ms" to stdMs, "trimmed_mean_ms" to trimmedMeanMs,
        "cv" to cv,
        "stability" to linkedMapOf("stable" to stable, "drift" to drift, "cv_max" to cvMax, "drift_max" to driftMax),
    )

    companion object {
        fun of(samplesMs: DoubleArray, cvMax: Double = Stats.CV_MAX, driftMax: Double = Stats.DRIFT_MAX): LatencyStats {
            require(samplesMs.isNotEmpty()) { "no timed runs to summarise" }
            val s = samplesMs.sortedArray()
            val mean = s.sum() / s.size
            val std = Stats.sampleStd(s)
            val cv = if (mean > 0) std / mean else 0.0
            val d = Stats.drift(samplesMs)
            val stable = s.size >= 3 && cv <= cvMax && d != null && abs(d) <= driftMax
            return LatencyStats(
                runs = s.size, minMs = s.first(), medianMs = Stats.percentile(s, 50.0), meanMs = mean,
                p90Ms = Stats.percentile(s, 90.0), p99Ms = Stats.percentile(s, 99.0), maxMs = s.last(),
                stdMs = std, trimmedMeanMs = Stats.trimmedMean(s), cv = cv, drift = d, stable = stable,
                cvMax = cvMax, driftMax = driftMax,
            )
        }
    }
}
