package dev.vitsdk.benchcore

/** Power readings over one window (idle baseline or timed phase), as the platform layer sampled them. */
sealed class EnergySamples {
    abstract val tS: DoubleArray

    /** The samples taken within [t0, t1] (the timed phase), same clock as the samples. */
    fun window(t0: Double, t1: Double): EnergySamples {
        val keep = tS.indices.filter { tS[it] >= t0 && tS[it] <= t1 }
        fun DoubleArray.pick() = DoubleArray(keep.size) { this[keep[it]] }
        return when (this) {
            is Counter -> Counter(tS.pick(), counterUj.pick(), source)
            is Battery -> Battery(tS.pick(), currentRaw.pick(), voltageRaw.pick())
        }
    }

    /** A cumulative energy counter in microjoules (Android 15+ power monitors report microwatt-seconds). */
    class Counter(override val tS: DoubleArray, val counterUj: DoubleArray, val source: String) : EnergySamples()

    /** Raw BatteryManager CURRENT_NOW and EXTRA_VOLTAGE readings, in whatever units the vendor uses. */
    class Battery(override val tS: DoubleArray, val currentRaw: DoubleArray, val voltageRaw: DoubleArray) : EnergySamples()
}

/** Builds the results' `energy` block; a number appears only when it was measured. */
object EnergyReport {
    const val PLUGGED_REASON = "the phone is plugged in (USB or charger), so the battery current includes charging; " +
        "unplug it and drive it over adb over Wi-Fi (android_app/README.md)"

    fun unavailable(reason: String): Map<String, Any?> =
        linkedMapOf("status" to "unavailable", "method" to "none", "reason" to reason)

    /** [timedS]: the timed runs' duration (energy per inference = net power x timedS / runs). */
    fun of(active: EnergySamples?, idle: EnergySamples?, runs: Int, plugged: Boolean, protocol: Protocol,
           unavailableReason: String? = null, timedS: Double? = null): Map<String, Any?> {
        if (active == null || idle == null) return unavailable(unavailableReason ?: "no energy source on this device")
        if (runs < 1) return unavailable("nothing was timed")
        if (active.tS.size < 2 || idle.tS.size < 2) {
            return unavailable("the timed phase or the idle baseline was shorter than one power sample period")
        }
        return when (active) {
            is EnergySamples.Counter -> {
                val base = idle as EnergySamples.Counter
                val a = PowerTrace.fromCounter(active.tS, active.counterUj)
                val i = PowerTrace.fromCounter(base.tS, base.counterUj)
                measured("android_power_monitor", active.source, a, i, runs, timedS, protocol,
                    "power monitors cover the whole device (screen and other apps included); the idle baseline removes the steady part",
                    null)
            }
            is EnergySamples.Battery -> {
                val base = idle as EnergySamples.Battery
                val conv = BatteryConvention.detect(active.currentRaw + base.currentRaw, active.voltageRaw + base.voltageRaw, plugged)
                if (plugged && protocol.requireUnplugged) return unavailable(PLUGGED_REASON) + ("battery" to conv.toMap(plugged))
                if (!conv.usable) {
                    return unavailable("battery readings unusable: ${conv.note ?: "unknown units"}") + ("battery" to conv.toMap(plugged))
                }
                fun trace(s: EnergySamples.Battery) = PowerTrace.fromPower(s.tS, DoubleArray(s.tS.size) { conv.powerW(s.currentRaw[it], s.voltageRaw[it]) })
                measured("battery_current_voltage", "BatteryManager CURRENT_NOW x EXTRA_VOLTAGE", trace(active), trace(base),
                    runs, timedS, protocol, "battery current is refreshed by the fuel gauge every 0.25-1 s on many phones: short runs are coarse",
                    conv.toMap(plugged))
            }
        }
    }

    private fun measured(method: String, source: String, active: PowerTrace, idle: PowerTrace, runs: Int, timedS: Double?,
                         protocol: Protocol, reason: String, battery: Map<String, Any?>?): Map<String, Any?> {
        val e = EnergyPerInference.of(active, idle, runs, timedS)
        val samples = LinkedHashMap(active.summary())
        samples["period_ms"] = protocol.powerSamplePeriodMs
        samples["idle_count"] = idle.samplesW.size
        samples["idle_duration_s"] = idle.durationS
        val out = linkedMapOf<String, Any?>(
            "status" to "measured", "method" to method, "reason" to reason, "source" to source,
            "energy_mj" to e.energyMj, "uncertainty_mj" to e.uncertaintyMj, "power_w" to e.powerW,
            "idle_power_w" to e.idlePowerW, "net_power_w" to e.netPowerW, "samples" to samples,
        )
        if (battery != null) out["battery"] = battery
        return out
    }
}

/** Assembles one results document (results.schema.json, `vitsdk.results/1`). */
object ResultsDoc {
    const val SCHEMA = "vitsdk.results/1"

    fun latency(loadMs: Double?, t: Timings, protocol: Protocol): Map<String, Any?> {
        val out = linkedMapOf<String, Any?>(
            "load_ms" to loadMs, "first_ms" to t.firstMs, "warmup_runs" to t.warmupRuns, "warmup_s" to t.warmupS,
            "runs" to t.samplesMs.size, "duration_s" to t.durationS,
        )
        if (t.samplesMs.isNotEmpty()) {
            out.putAll(LatencyStats.of(t.samplesMs, protocol.stabilityCvMax, protocol.stabilityDriftMax).toMap())
        } else {
            for (k in listOf("min_ms", "median_ms", "mean_ms", "p90_ms", "p99_ms", "max_ms", "std_ms", "trimmed_mean_ms", "cv")) out[k] = null
            out["stability"] = linkedMapOf("stable" to false, "drift" to null)
        }
        out["samples_ms"] = t.samplesMs.toList()
        return out
    }

    fun build(
        runId: String, createdUtc: String, status: String, error: String?, toolVersion: String,
        device: Map<String, Any?>, runtime: Map<String, Any?>, model: ManifestFile, manifest: Manifest,
        manifestSha256: String?, protocol: Protocol, latency: Map<String, Any?>?, energy: Map<String, Any?>,
        thermalBefore: Map<String, Any?>, thermalAfter: Map<String, Any?>, numerics: Map<String, Any?>,
    ): Map<String, Any?> {
        require(status in setOf("complete", "partial", "failed")) { "bad status $status" }
        return linkedMapOf(
            "schema" to SCHEMA, "run_id" to runId, "created_utc" to createdUtc, "status" to status, "error" to error,
            "tool" to linkedMapOf("name" to "vitsdk-android", "version" to toolVersion),
            "device" to device, "runtime" to runtime,
            "model" to linkedMapOf(
                "name" to manifest.modelName, "file" to model.path, "format" to model.format, "sha256" to model.sha256,
                "size_bytes" to model.sizeBytes, "precision" to model.precision, "macs" to model.macs,
                "input_shape" to manifest.inputShape?.toList(), "manifest_sha256" to manifestSha256,
            ),
            "protocol" to protocol.toMap(), "latency" to latency, "energy" to energy,
            "thermal" to linkedMapOf("before" to thermalBefore, "after" to thermalAfter),
            "numerics" to numerics,
        )
    }

    /** Android's PowerManager thermal status codes (0..6) as the schema's names. */
    fun thermalName(status: Int): String? = listOf("none", "light", "moderate", "severe", "critical", "emergency", "shutdown").getOrNull(status)

    /** File name of a model's results: the same rule as the Python host runner. */
    fun fileName(model: ManifestFile, platform: String): String =
        "${model.path.replace("/", "_").substringBeforeLast('.')}-${model.runtime}-$platform.json"
}
