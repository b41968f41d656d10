package dev.vitsdk.benchcore

/**
 * Unit and sign detection for BatteryManager readings (schemas/vectors/battery_units.json).
 *
 * CURRENT_NOW is documented in microamperes, negative while discharging, but some vendors report
 * milliamperes or positive values while discharging; EXTRA_VOLTAGE is documented in millivolts, some
 * report volts or microvolts. A phone running a benchmark draws 50 mA - 5 A, so magnitudes tell the
 * unit; an unplugged phone is discharging, so the majority sign tells the convention.
 */
data class BatteryConvention(
    val currentUnit: String,   // "uA" | "mA" | "unknown"
    val dischargeSign: Int,    // -1 | 1 | 0 (unknown)
    val voltageUnit: String,   // "V" | "mV" | "uV" | "unknown"
    val note: String?,
) {
    val usable: Boolean get() = currentUnit != "unknown" && dischargeSign != 0 && voltageUnit != "unknown"

    fun toMap(plugged: Boolean): Map<String, Any?> = linkedMapOf(
        "current_unit" to currentUnit, "discharge_sign" to dischargeSign, "voltage_unit" to voltageUnit,
        "plugged" to plugged, "note" to note,
    )

    /** Battery power in watts, positive while discharging. */
    fun powerW(currentRaw: Double, voltageRaw: Double): Double {
        check(usable) { "battery convention unknown; cannot convert to power" }
        val amps = currentRaw * CURRENT_SCALE.getValue(currentUnit) * dischargeSign
        return amps * voltageRaw * VOLTAGE_SCALE.getValue(voltageUnit)
    }

    companion object {
        const val MICROAMP_THRESHOLD = 5000.0
        private val CURRENT_SCALE = mapOf("uA" to 1e-6, "mA" to 1e-3)
        private val VOLTAGE_SCALE = mapOf("V" to 1.0, "mV" to 1e-3, "uV" to 1e-6)

        fun voltageUnit(raw: Double): String {
            val v = kotlin.math.abs(raw)
            return when {
                v in 2.5..5.5 -> "V"
                v in 2500.0..5500.0 -> "mV"
                v in 2.5e6..5.5e6 -> "uV"
                else -> "unknown"
            }
        }

        fun detect(currentRaw: DoubleArray, voltageRaw: DoubleArray, plugged: Boolean): BatteryConvention {
            val notes = mutableListOf<String>()
            val nonzero = currentRaw.filter { it != 0.0 }.map { kotlin.math.abs(it) }.sorted().toDoubleArray()
            val unit = if (nonzero.isEmpty()) {
                notes.add("CURRENT_NOW reads 0 (not supported by this device)"); "unknown"
            } else if (Stats.percentile(nonzero, 50.0) >= MICROAMP_THRESHOLD) "uA" else "mA"
            val positives = currentRaw.count { it > 0 }
            val negatives = currentRaw.count { it < 0 }
            val sign = when {
                plugged -> { notes.add("plugged in: the discharge sign cannot be told from charging"); 0 }
                positives == negatives -> {
                    if (unit != "unknown") notes.add("as many positive as negative current samples"); 0
                }
                positives > negatives -> { notes.add("positive while discharging (not the documented convention)"); 1 }
                else -> -1
            }
            val vunit = if (voltageRaw.isEmpty()) "unknown" else voltageUnit(Stats.percentile(voltageRaw.sortedArray(), 50.0))
            if (vunit == "unknown") notes.add("voltage out of the range of a Li-ion cell in V, mV and uV")
            return BatteryConvention(unit, sign, vunit, if (notes.isEmpty()) null else notes.joinToString("; "))
        }
    }
}
