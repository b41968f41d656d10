package dev.vitsdk.benchcore

import org.junit.Assert.assertEquals
import org.junit.Test
import java.io.File

/**
 * Builds results documents the way the app does (measured battery energy, a failed model, power
 * monitors) and writes them to -Dvitsdk.out, where the pytest side validates them against
 * schemas/results.schema.json: the app's JSON is checked by the same schema as everyone else's.
 */
class ResultsWriterTest {
    private val manifest = Manifest.parse("""{"schema": "vitsdk.manifest/1", "model": {"name": "vit_nano_patch4_28"},
        "input": {"shape": [1, 1, 28, 28], "dtype": "float32"},
        "files": [{"path": "model_fp32.pte", "format": "pte", "runtime": "executorch", "precision": "fp32",
                   "delegate": "xnnpack", "size_bytes": 1000, "macs": 2330000,
                   "sha256": "${"a".repeat(64)}"}],
        "reference": {"inputs": "reference/inputs.npy", "outputs": "reference/outputs.npy",
                      "tolerance": 1e-4, "tolerances": {"fp32": 1e-4, "int8": 0.1}}}""")
    private val device = linkedMapOf<String, Any?>("platform" to "android", "name" to "Pixel 8", "manufacturer" to "Google",
        "model" to "Pixel 8", "soc" to "Tensor G3", "os" to "android", "os_version" to "15", "api_level" to 35,
        "cpu_cores" to 9, "memory_bytes" to 8_000_000_000L, "serial" to null)
    private val runtime = linkedMapOf<String, Any?>("name" to "executorch", "version" to "1.0.1", "delegate" to "xnnpack", "threads" to 4)
    private val protocol = Protocol(warmupRuns = 2, warmupSeconds = 0.0, minRuns = 20, minSeconds = 0.0, idleBaselineSeconds = 1.0)

    private fun timings(): Timings {
        var now = 0.0
        var i = 0
        return measure(protocol, { now }) { now += 0.004 + 0.0001 * (i++ % 5) }
    }

    private fun doc(energy: Map<String, Any?>, status: String = "complete", latency: Map<String, Any?>? = null,
                    error: String? = null): Map<String, Any?> {
        val t = timings()
        return ResultsDoc.build("run-1", "2026-11-25T09:00:00Z", status, error, "0.1.0", device, runtime, manifest.files[0],
            manifest, "b".repeat(64), protocol, if (status == "failed") null else latency ?: ResultsDoc.latency(12.5, t, protocol), energy,
            linkedMapOf("state" to ResultsDoc.thermalName(0), "temperature_c" to 31.5),
            linkedMapOf("state" to ResultsDoc.thermalName(1), "temperature_c" to 35.0),
            if (status == "failed") linkedMapOf("status" to "skipped", "reason" to "model failed to load")
            else Numerics.check(floatArrayOf(0.1f, 0.9f, 0.3f, 0.2f), floatArrayOf(0.1f, 0.9f, 0.3f, 0.2f), 2,
                manifest.tolerance("fp32")))
    }

    @Test
    fun numericsFollowTheManifestTolerance() {
        assertEquals(0.1, manifest.tolerance("int8")!!, 0.0)
        val pass = Numerics.check(floatArrayOf(1.0f, 2.00001f), floatArrayOf(1.0f, 2.0f), 1, 1e-4)
        assertEquals("pass", pass["status"])
        val fail = Numerics.check(floatArrayOf(1.0f, 2.01f), floatArrayOf(1.0f, 2.0f), 1, 1e-4)
        assertEquals("fail", fail["status"])
        assertEquals("top1_agree", Numerics.check(floatArrayOf(0f, 1f), floatArrayOf(0f, 2f), 1, null)["metric"])
    }

    @Test
    fun energyUsesTheTimedWindowAndDuration() {
        // counter at 4 W throughout; timed phase is [1.0, 3.0] s with 100 runs, idle 1 W
        val t = DoubleArray(41) { it * 0.1 }
        val active = EnergySamples.Counter(t, DoubleArray(41) { it * 0.4e6 }, "rails").window(1.0, 3.0)
        assertEquals(21, active.tS.size)
        val idle = EnergySamples.Counter(doubleArrayOf(0.0, 1.0), doubleArrayOf(0.0, 1e6), "rails")
        val e = EnergyReport.of(active, idle, 100, plugged = false, protocol = protocol, timedS = 2.5)
        assertEquals(3.0 * 2.5 / 100 * 1000, e["energy_mj"] as Double, 1e-6)
    }

    @Test
    fun fileNameMatchesThePythonRule() {  // tests/test_android_benchcore.py asserts the same name for results_name()
        val m = ManifestFile("sub/model_int8.pte", "pte", "executorch", "int8", "xnnpack", 1, "0".repeat(64), 1)
        assertEquals("sub_model_int8-executorch-android.json", ResultsDoc.fileName(m, "android"))
    }

    @Test
    fun writeDocuments() {
        val times = DoubleArray(21) { it * 0.1 }
        val battery = EnergyReport.of(
            EnergySamples.Battery(times, DoubleArray(21) { -900_000.0 - 1000.0 * (it % 3) }, DoubleArray(21) { 3850.0 }),
            EnergySamples.Battery(times, DoubleArray(21) { -300_000.0 - 500.0 * (it % 2) }, DoubleArray(21) { 3851.0 }),
            runs = 20, plugged = false, protocol = protocol)
        assertEquals("measured", battery["status"])
        // (0.9 A - 0.3 A) x 3.85 V over 2 s / 20 runs = 231 mJ, give or take the sample noise
        assertEquals(231.0, battery["energy_mj"] as Double, 1.0)
        val monitors = EnergyReport.of(
            EnergySamples.Counter(doubleArrayOf(0.0, 0.5, 1.0), doubleArrayOf(1e6, 2.5e6, 4.0e6), "CPU_BIG, GPU"),
            EnergySamples.Counter(doubleArrayOf(0.0, 0.5, 1.0), doubleArrayOf(0.0, 0.5e6, 1.0e6), "CPU_BIG, GPU"),
            runs = 100, plugged = true, protocol = protocol)
        assertEquals(20.0, monitors["energy_mj"] as Double, 1e-9)   // (3 W - 1 W) x 1 s / 100 runs
        val docs = mapOf(
            "battery.json" to doc(battery),
            "monitors.json" to doc(monitors),
            "plugged.json" to doc(EnergyReport.of(
                EnergySamples.Battery(times, DoubleArray(21) { 500_000.0 }, DoubleArray(21) { 4300.0 }),
                EnergySamples.Battery(times, DoubleArray(21) { 500_000.0 }, DoubleArray(21) { 4300.0 }),
                runs = 20, plugged = true, protocol = protocol)),
            "failed.json" to doc(EnergyReport.unavailable("model failed to load"), status = "failed",
                error = "ExecutorchRuntimeException: Failed to load method: forward"),
        )
        val out = System.getProperty("vitsdk.out") ?: return
        File(out).mkdirs()
        for ((name, d) in docs) File(out, name).writeText(Json.write(d))
    }
}
