package dev.vitsdk.benchcore

import kotlin.math.hypot
import kotlin.math.sqrt

/**
 * Energy over a window plus the power samples it came from (schemas/README.md, vectors in
 * schemas/vectors/energy.json). Power samples integrate by the trapezoid rule; cumulative counters
 * (Android power monitors report microwatt-seconds, i.e. microjoules) by summing deltas.
 */
class PowerTrace(val energyJ: Double, val durationS: Double, val samplesW: DoubleArray) {
    init {
        require(durationS > 0) { "a power trace needs a positive duration (at least two samples at different times)" }
    }

    val meanPowerW: Double get() = energyJ / durationS

    val standardErrorW: Double
        get() = if (samplesW.size >= 2) Stats.sampleStd(samplesW) / sqrt(samplesW.size.toDouble()) else 0.0

    fun summary(): Map<String, Any?> = linkedMapOf(
        "count" to samplesW.size, "duration_s" to durationS, "min_w" to samplesW.min(),
        "mean_w" to meanPowerW, "max_w" to samplesW.max(), "std_w" to Stats.sampleStd(samplesW),
    )

    companion object {
        fun fromPower(tS: DoubleArray, powerW: DoubleArray): PowerTrace {
            checkTimes(tS, powerW.size)
            var e = 0.0
            for (i in 0 until tS.size - 1) e += (tS[i + 1] - tS[i]) * (powerW[i] + powerW[i + 1]) / 2
            return PowerTrace(e, tS.last() - tS.first(), powerW.copyOf())
        }

        fun fromCounter(tS: DoubleArray, counterUj: DoubleArray, maxRangeUj: Double? = null): PowerTrace {
            checkTimes(tS, counterUj.size)
            val deltas = DoubleArray(counterUj.size - 1) { i ->
                var d = counterUj[i + 1] - counterUj[i]
                if (d < 0) {
                    require(maxRangeUj != null && maxRangeUj > 0) { "energy counter went backwards and its wrap range is unknown" }
                    d += maxRangeUj
                }
                d
            }
            val powers = DoubleArray(deltas.size) { i -> deltas[i] * 1e-6 / (tS[i + 1] - tS[i]) }
            return PowerTrace(deltas.sum() * 1e-6, tS.last() - tS.first(), powers)
        }

        private fun checkTimes(tS: DoubleArray, n: Int) {
            require(tS.size == n) { "${tS.size} times but $n values" }
            require(tS.size >= 2) { "need at least two samples to integrate" }
            for (i in 0 until tS.size - 1) require(tS[i + 1] > tS[i]) { "sample times must increase" }
        }
    }
}

data class EnergyPerInference(
    val energyMj: Double,
    val uncertaintyMj: Double,
    val powerW: Double,
    val idlePowerW: Double,
    val netPowerW: Double,
) {
    companion object {
        /**
         * Energy per inference above the idle baseline, with one standard error. [timedS] is the timed
         * runs' own duration when the power window does not coincide with it (samples fall on a grid).
         */
        fun of(active: PowerTrace, idle: PowerTrace, runs: Int, timedS: Double? = null): EnergyPerInference {
            require(runs >= 1) { "energy per inference needs at least one run" }
            val net = active.meanPowerW - idle.meanPowerW
            val scale = (timedS ?: active.durationS) / runs * 1000.0
            val err = hypot(active.standardErrorW, idle.standardErrorW)
            return EnergyPerInference(net * scale, err * scale, active.meanPowerW, idle.meanPowerW, net)
        }
    }
}
