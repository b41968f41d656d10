package dev.vitsdk.bench

import android.content.Context
import android.content.Intent
import android.net.Uri
import android.os.BatteryManager
import android.os.PowerManager
import dev.vitsdk.benchcore.EnergyReport
import dev.vitsdk.benchcore.Json
import dev.vitsdk.benchcore.RunSpec
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import java.io.File
import java.io.FileNotFoundException
import java.security.MessageDigest

/**
 * The app's Android side on the host JVM under Robolectric (API 35 framework, android-all-instrumented):
 * the RUN intent, BenchRunner through the whole protocol, the three energy paths, thermal status, a
 * missing model file, a .pte from a newer ExecuTorch, the results provider. The runtimes' native libraries
 * (ExecuTorch, LiteRT) cannot load on a host JVM, so a fake InferenceBackend stands in for them, and a fake
 * power-rail counter for SystemHealthManager's monitors (Robolectric does not model them); BatteryManager,
 * the sticky battery intent and PowerManager are Robolectric's. Every results file lands under
 * -Dvitsdk.out/CASE/ for tests/test_android_app.py to validate against schemas/results.schema.json.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35])
class BenchAppTest {
    private val context: Context get() = RuntimeEnvironment.getApplication()
    private val out = File(System.getProperty("vitsdk.out") ?: error("-Dvitsdk.out is not set"))
    private val clock = { System.nanoTime() / 1e9 }

    /** 1 W of idle draw plus [perRunUj] per inference, on the same clock as the runner. */
    private class FakeRails(private val clock: () -> Double, private val perRunUj: Double) : EnergyCounters {
        private val t0 = clock()
        @Volatile var runs = 0
        override val description = "fake rail (test)"
        override fun read(): Pair<Double, Double> { val t = clock(); return t to (1e6 * (t - t0) + perRunUj * runs) }
    }

    private class FakeBackend(override val runtime: String, private val onRun: () -> Unit) : InferenceBackend {
        override val version = RuntimeVersions.of(runtime)
        override val delegate = "xnnpack"
        override val threads = 2
        override val inputShape = longArrayOf(1, 1, 28, 28)
        override fun run(input: FloatArray): FloatArray { Thread.sleep(4); onRun(); return FloatArray(10) { it.toFloat() } }
        override fun close() {}
    }

    private fun sha256(b: ByteArray) = MessageDigest.getInstance("SHA-256").digest(b).joinToString("") { "%02x".format(it) }

    /** A bundle folder with model.pte and model.tflite (unless left out) and a manifest naming them. */
    private fun bundle(name: String, executorchWrote: String = RuntimeVersions.executorch, leaveOut: String? = null): File {
        val dir = File(out, "bundles/$name").apply { deleteRecursively(); mkdirs() }
        val entries = listOf("model.pte" to "executorch", "model.tflite" to "litert").map { (path, runtime) ->
            val bytes = "not a real $runtime program".toByteArray()
            if (path != leaveOut) File(dir, path).writeBytes(bytes)
            """{"path": "$path", "format": "${path.substringAfter('.')}", "runtime": "$runtime", "precision": "fp32",
               "delegate": "xnnpack", "size_bytes": ${bytes.size}, "macs": 1000, "sha256": "${sha256(bytes)}"}"""
        }
        File(dir, "manifest.json").writeText("""{"schema": "vitsdk.manifest/1", "model": {"name": "vit_test"},
            "input": {"shape": [1, 1, 28, 28], "dtype": "float32"}, "files": [${entries.joinToString()}],
            "exporters": {"executorch": "$executorchWrote", "ai-edge-litert": "2.3.0"}}""")
        return dir
    }

    private fun spec(case: String, bundle: File, extra: String = ""): File {
        val f = File(out, "specs/$case.json").apply { parentFile!!.mkdirs() }
        f.writeText("""{"schema": "vitsdk.run_spec/1", "run_id": "$case", "bundle": "${bundle.path}",
            "output_dir": "${File(out, case).path}", $extra
            "models": [{"file": "model.pte", "runtime": "executorch"}, {"file": "model.tflite", "runtime": "litert", "threads": 2}],
            "protocol": {"warmup_runs": 2, "warmup_seconds": 0, "min_runs": 10, "min_seconds": 0.25, "cooldown_seconds": 0,
                         "power_sample_period_ms": 20, "idle_baseline_seconds": 0.3, "require_unplugged": true}}""")
        return f
    }

    private fun battery(currentNow: Int, plugged: Int = 0) {
        shadowOf(context.getSystemService(BatteryManager::class.java)).setIntProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW, currentNow)
        context.sendStickyBroadcast(Intent(Intent.ACTION_BATTERY_CHANGED).putExtra(BatteryManager.EXTRA_VOLTAGE, 3850)
            .putExtra(BatteryManager.EXTRA_PLUGGED, plugged).putExtra(BatteryManager.EXTRA_TEMPERATURE, 315))
    }

    /** Runs [case] through the RUN intent path and BenchRunner; returns the results documents by model file. */
    private fun run(case: String, bundle: File, rails: FakeRails? = null): Map<String, Map<String, Any?>> {
        val intent = Intent(BenchActivity.ACTION_RUN).putExtra(BenchActivity.EXTRA_RUN_SPEC, spec(case, bundle).path)
        val spec = BenchActivity.runSpecFrom(intent)!!
        val platform = RunnerPlatform(
            loadBackend = { runtime, _, _, _, _ -> FakeBackend(runtime) { rails?.let { it.runs++ } } },
            clock = clock, sleepMs = { Thread.sleep(it) }, monitors = { rails })
        BenchRunner(context, spec, {}, platform).run()
        @Suppress("UNCHECKED_CAST")
        val progress = Json.parse(File(out, "$case/progress.json").readText()) as Map<String, Any?>
        assertEquals("done", progress["state"])
        assertEquals(2, (progress["done"] as Number).toInt())
        @Suppress("UNCHECKED_CAST")
        return (progress["files"] as List<String>).associate { name ->
            @Suppress("UNCHECKED_CAST") val doc = Json.parse(File(out, "$case/$name").readText()) as Map<String, Any?>
            ((doc["model"] as Map<*, *>)["file"] as String) to doc
        }
    }

    private fun Map<String, Any?>.at(vararg keys: String): Any? =
        keys.fold(this as Any?) { node, k -> (node as Map<*, *>)[k] }

    @Before fun unplugged() = battery(currentNow = -350_000)

    @Test fun runIntentCarriesTheRunSpec() {
        val f = spec("intent", bundle("intent"))
        val spec = BenchActivity.runSpecFrom(Intent(BenchActivity.ACTION_RUN).putExtra("run_spec", f.path))!!
        assertEquals("intent", spec.runId)
        assertEquals(listOf("model.pte", "model.tflite"), spec.models.map { it.file })
        assertEquals(2, spec.models[1].threads)
        assertEquals(0.25, spec.protocol.minSeconds, 0.0)
        assertNull(BenchActivity.runSpecFrom(Intent(Intent.ACTION_MAIN)))
        try { BenchActivity.runSpecFrom(Intent(BenchActivity.ACTION_RUN)); fail("RUN without run_spec accepted") }
        catch (e: IllegalArgumentException) { assertTrue(e.message!!, e.message!!.contains("--es run_spec")) }
        val typo = spec("typo", bundle("typo"), extra = "\"thread\": 4,")
        val refusal = try {
            BenchActivity.runSpecFrom(Intent(BenchActivity.ACTION_RUN).putExtra("run_spec", typo.path)); "accepted"
        } catch (e: IllegalArgumentException) { e.message!! }
        assertTrue(refusal, refusal.contains("unknown field(s) [thread]"))
        // what BenchActivity does with it: progress.json says failed and why, where the host driver polls
        BenchRunner.refuse(context, typo.path, "run spec refused: $refusal")
        @Suppress("UNCHECKED_CAST")
        val progress = Json.parse(File(out, "typo/progress.json").readText()) as Map<String, Any?>
        assertEquals("failed", progress["state"])
        assertEquals("run spec refused: $refusal", progress["error"])
    }

    @Test fun powerMonitorsThroughTheWholeProtocol() {
        shadowOf(context.getSystemService(PowerManager::class.java)).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_MODERATE)
        val docs = run("monitors", bundle("monitors"), FakeRails(clock, perRunUj = 2000.0))
        for ((file, doc) in docs) {
            assertEquals(file, "complete", doc["status"])
            assertEquals("android_power_monitor", doc.at("energy", "method"))
            val mj = (doc.at("energy", "energy_mj") as Number).toDouble()
            assertTrue("$file: $mj mJ per inference, the fake rail adds 2 mJ", mj in 1.5..2.5)
            assertEquals("moderate", doc.at("thermal", "before", "state"))
            assertEquals(31.5, (doc.at("thermal", "before", "temperature_c") as Number).toDouble(), 1e-9)
            assertTrue((doc.at("latency", "runs") as Number).toInt() >= 10)
        }
        assertEquals(RuntimeVersions.executorch, docs.getValue("model.pte").at("runtime", "version"))
        assertEquals(RuntimeVersions.litert, docs.getValue("model.tflite").at("runtime", "version"))
        assertEquals(RuntimeVersions.app, docs.getValue("model.pte").at("tool", "version"))
    }

    @Test fun batteryMicroampsNegativeWhileDischarging() {
        battery(currentNow = -350_000)
        val doc = run("battery_uA", bundle("battery_uA")).getValue("model.pte")
        assertEquals("battery_current_voltage", doc.at("energy", "method"))
        assertEquals("uA", doc.at("energy", "battery", "current_unit"))
        assertEquals(-1, (doc.at("energy", "battery", "discharge_sign") as Number).toInt())
        assertEquals(1.3475, (doc.at("energy", "idle_power_w") as Number).toDouble(), 1e-6)   // 0.35 A x 3.85 V
    }

    @Test fun batteryMilliampsPositiveWhileDischarging() {
        battery(currentNow = 420)
        val doc = run("battery_mA", bundle("battery_mA")).getValue("model.pte")
        assertEquals("mA", doc.at("energy", "battery", "current_unit"))
        assertEquals(1, (doc.at("energy", "battery", "discharge_sign") as Number).toInt())
        assertEquals(1.617, (doc.at("energy", "idle_power_w") as Number).toDouble(), 1e-6)   // 0.42 A x 3.85 V
    }

    @Test fun pluggedPhoneGetsNoBatteryEnergy() {
        battery(currentNow = -350_000, plugged = BatteryManager.BATTERY_PLUGGED_USB)
        val doc = run("plugged", bundle("plugged")).getValue("model.pte")
        assertEquals("complete", doc["status"])
        assertEquals("unavailable", doc.at("energy", "status"))
        assertEquals(EnergyReport.PLUGGED_REASON, doc.at("energy", "reason"))
    }

    @Test fun noEnergySourceSaysWhy() {
        battery(currentNow = Int.MIN_VALUE)   // BatteryManager's answer when CURRENT_NOW is not supported
        val doc = run("no_energy", bundle("no_energy")).getValue("model.pte")
        assertEquals("unavailable", doc.at("energy", "status"))
        assertTrue(doc.at("energy", "reason") as String, (doc.at("energy", "reason") as String).contains("no readings from BatteryManager"))
    }

    @Test fun missingModelFileFailsThatModelOnly() {
        val docs = run("missing", bundle("missing", leaveOut = "model.pte"))
        assertEquals("failed", docs.getValue("model.pte")["status"])
        assertTrue(docs.getValue("model.pte")["error"] as String, (docs.getValue("model.pte")["error"] as String).startsWith("cannot read"))
        assertEquals("complete", docs.getValue("model.tflite")["status"])
    }

    @Test fun pteFromNewerExecuTorchIsRefused() {
        val docs = run("newer_pte", bundle("newer_pte", executorchWrote = "99.0.0"))
        val error = docs.getValue("model.pte")["error"] as String
        assertEquals("failed", docs.getValue("model.pte")["status"])
        assertTrue(error, error.contains("written by ExecuTorch 99.0.0") && error.contains("runs ExecuTorch ${RuntimeVersions.executorch}"))
        assertEquals("complete", docs.getValue("model.tflite")["status"])
    }

    @Test fun resultsProviderSharesResultsOnly() {
        val results = File(context.filesDir, "results/r1").apply { mkdirs() }
        val f = File(results, "m-executorch-android.json").apply { writeText("{}") }
        File(context.filesDir, "secret.txt").writeText("no")
        val provider = org.robolectric.Robolectric.setupContentProvider(ResultsProvider::class.java, ResultsProvider.AUTHORITY)
        val uri = ResultsProvider.uriFor(context, f)
        assertEquals("content://dev.vitsdk.bench.results/r1/m-executorch-android.json", uri.toString())
        val text = android.os.ParcelFileDescriptor.AutoCloseInputStream(provider.openFile(uri, "r")).use { String(it.readBytes()) }
        assertEquals("{}", text)
        try { provider.openFile(Uri.parse("content://${ResultsProvider.AUTHORITY}/../secret.txt"), "r"); fail("escaped files/results") }
        catch (_: FileNotFoundException) {}
        try { provider.openFile(uri, "w"); fail("writable") } catch (_: SecurityException) {}
    }
}
