package dev.vitsdk.benchcore

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File
import kotlin.math.abs

/**
 * The pure Kotlin core against the shared vectors in schemas/vectors (the Python SDK is tested
 * against the same files). The directory comes from -Dvitsdk.vectors (pytest sets it; Gradle's
 * test task sets it in benchcore/build.gradle.kts).
 */
class VectorsTest {
    private val dir = File(System.getProperty("vitsdk.vectors") ?: "../../schemas/vectors")

    @Suppress("UNCHECKED_CAST")
    private fun cases(name: String): List<Map<String, Any?>> {
        val doc = Json.parse(File(dir, name).readText()) as Map<String, Any?>
        return doc.list("cases") as List<Map<String, Any?>>
    }

    private fun close(name: String, want: Any?, got: Double?) {
        if (want == null) { assertNull(name, got); return }
        val w = (want as Number).toDouble()
        if (got == null) fail("$name: expected $w, got null")
        val tol = maxOf(1e-12, 1e-9 * abs(w))
        assertTrue("$name: expected $w, got $got", abs(got!! - w) <= tol)
    }

    @Test
    fun stats() {
        val all = cases("stats.json")
        assertTrue(all.size >= 5)
        for (c in all) {
            val name = c.str("name")
            val e = c.obj("expected")
            val s = LatencyStats.of(c.list("samples_ms").doubles(), c.num("cv_max"), c.num("drift_max"))
            assertEquals(name, (e["runs"] as Number).toInt(), s.runs)
            close("$name min", e["min_ms"], s.minMs); close("$name median", e["median_ms"], s.medianMs)
            close("$name mean", e["mean_ms"], s.meanMs); close("$name p90", e["p90_ms"], s.p90Ms)
            close("$name p99", e["p99_ms"], s.p99Ms); close("$name max", e["max_ms"], s.maxMs)
            close("$name std", e["std_ms"], s.stdMs); close("$name trimmed", e["trimmed_mean_ms"], s.trimmedMeanMs)
            close("$name cv", e["cv"], s.cv); close("$name drift", e["drift"], s.drift)
            assertEquals("$name stable", e["stable"], s.stable)
        }
    }

    @Test
    fun energy() {
        for (c in cases("energy.json")) {
            val name = c.str("name")
            val e = c.obj("expected")
            when (c.str("kind")) {
                "per_inference" -> {
                    val a = c.obj("active"); val i = c.obj("idle")
                    val r = EnergyPerInference.of(
                        PowerTrace.fromPower(a.list("t_s").doubles(), a.list("power_w").doubles()),
                        PowerTrace.fromPower(i.list("t_s").doubles(), i.list("power_w").doubles()),
                        (c["runs"] as Number).toInt())
                    close("$name energy_mj", e["energy_mj"], r.energyMj)
                    close("$name uncertainty_mj", e["uncertainty_mj"], r.uncertaintyMj)
                    close("$name power_w", e["power_w"], r.powerW)
                    close("$name idle_power_w", e["idle_power_w"], r.idlePowerW)
                    close("$name net_power_w", e["net_power_w"], r.netPowerW)
                }
                else -> {
                    val t = if (c["kind"] == "power") PowerTrace.fromPower(c.list("t_s").doubles(), c.list("power_w").doubles())
                    else PowerTrace.fromCounter(c.list("t_s").doubles(), c.list("counter_uj").doubles(), c.numOrNull("max_range_uj"))
                    close("$name energy_j", e["energy_j"], t.energyJ)
                    close("$name duration_s", e["duration_s"], t.durationS)
                    close("$name mean_power_w", e["mean_power_w"], t.meanPowerW)
                    close("$name standard_error_w", e["standard_error_w"], t.standardErrorW)
                    val s = t.summary()
                    assertEquals(name, (e["count"] as Number).toInt(), s["count"])
                    close("$name min_w", e["min_w"], s["min_w"] as Double)
                    close("$name max_w", e["max_w"], s["max_w"] as Double)
                    close("$name std_w", e["std_w"], s["std_w"] as Double)
                }
            }
        }
    }

    @Test
    fun batteryUnits() {
        for (c in cases("battery_units.json")) {
            val name = c.str("name")
            val e = c.obj("expected")
            val cur = c.list("current_raw").doubles()
            val volt = c.list("voltage_raw").doubles()
            val conv = BatteryConvention.detect(cur, volt, c["plugged"] as Boolean)
            assertEquals(name, e["current_unit"], conv.currentUnit)
            assertEquals(name, (e["discharge_sign"] as Number).toInt(), conv.dischargeSign)
            assertEquals(name, e["voltage_unit"], conv.voltageUnit)
            assertEquals(name, e["usable"], conv.usable)
            val want = e["power_w"] as List<*>?
            if (want == null) {
                try { conv.powerW(cur[0], volt[0]); fail("$name: power from an unusable convention") } catch (_: IllegalStateException) {}
            } else {
                for (k in cur.indices) close("$name power[$k]", want[k], conv.powerW(cur[k], volt[k]))
            }
        }
    }

    @Test
    fun schedule() {
        for (c in cases("schedule.json")) {
            val name = c.str("name")
            val runSeconds = c.list("run_seconds").doubles()
            var now = 0.0
            var i = 0
            val t = measure(Protocol.fromMap(c.obj("protocol")), { now }) { now += runSeconds[i % runSeconds.size]; i++ }
            val e = c.obj("expected")
            assertEquals(name, (e["warmup_runs"] as Number).toInt(), t.warmupRuns)
            assertEquals(name, (e["runs"] as Number).toInt(), t.samplesMs.size)
            close("$name first_ms", e["first_ms"], t.firstMs)
            close("$name duration_s", e["duration_s"], t.durationS)
        }
    }

    @Test
    fun measureKeepsPartialSamplesWhenTheRuntimeFails() {
        var n = 0
        var now = 0.0
        val t = measure(Protocol(warmupRuns = 2, warmupSeconds = 0.0, minRuns = 10, minSeconds = 0.0), { now }) {
            now += 0.01; n++
            if (n > 6) throw IllegalStateException("delegate lost")
        }
        assertEquals(3, t.samplesMs.size)
        assertTrue(t.stopped!!.contains("delegate lost"))
    }

    @Test
    fun jsonRoundTripAndTruncation() {
        val text = """{"a": [1, 2.5, -3e2, true, null, "x\"y\u00e9"], "b": {}}"""
        val v = Json.parse(text)
        assertEquals(v, Json.parse(Json.write(v)))
        assertEquals(-300.0, ((v as Map<*, *>)["a"] as List<*>)[2])
        try { Json.parse(text.substring(0, 20)); fail("truncated JSON parsed") } catch (e: Json.ParseError) {
            assertTrue(e.message!!, e.message!!.contains("truncated") || e.message!!.contains("expected"))
        }
        assertEquals("null", Json.write(Double.NaN))
    }

    @Test
    fun runSpecAndManifestVersions() {
        val spec = """{"schema": "vitsdk.run_spec/1", "run_id": "r1", "bundle": "/data/local/tmp/b",
            "models": [{"file": "m.pte", "runtime": "executorch", "delegate": null, "threads": 4}],
            "protocol": {"warmup_runs": 1, "warmup_seconds": 0, "min_runs": 3, "min_seconds": 0, "cooldown_seconds": 0,
                         "power_sample_period_ms": 50, "max_seconds": null}}"""
        val parsed = RunSpec.parse(spec)
        assertEquals(4, parsed.models[0].threads)
        assertNull(parsed.protocol.maxSeconds)
        try { RunSpec.parse(spec.replace("run_spec/1", "run_spec/2")); fail("newer run spec accepted") } catch (e: IllegalArgumentException) {
            assertTrue(e.message!!, e.message!!.contains("newer vitsdk"))
        }
        try { RunSpec.parse(spec.replace("\"min_runs\": 3", "\"min_runs\": 0")); fail("min_runs 0 accepted") } catch (e: IllegalArgumentException) {
            assertTrue(e.message!!.contains("min_runs"))
        }
    }

    @Test
    fun pluggedPhoneGetsNoBatteryEnergy() {
        val t = doubleArrayOf(0.0, 0.1, 0.2)
        val active = EnergySamples.Battery(t, doubleArrayOf(400000.0, 410000.0, 390000.0), doubleArrayOf(4200.0, 4200.0, 4200.0))
        val idle = EnergySamples.Battery(t, doubleArrayOf(100000.0, 100000.0, 110000.0), doubleArrayOf(4200.0, 4200.0, 4200.0))
        val e = EnergyReport.of(active, idle, 10, plugged = true, protocol = Protocol())
        assertEquals("unavailable", e["status"])
        assertFalse(e.containsKey("energy_mj"))
        assertEquals(EnergyReport.PLUGGED_REASON, e["reason"])
    }

    @Test
    fun npyReader() {
        val path = System.getProperty("vitsdk.npy") ?: return  // pytest passes a file numpy wrote
        val arr = NpyArray.parse(File(path).readBytes())
        val want = Json.parse(File("$path.json").readText()) as Map<*, *>
        assertEquals((want["shape"] as List<*>).map { (it as Number).toLong() }, arr.shape.toList())
        val values = (want["values"] as List<*>).map { (it as Number).toFloat() }
        assertEquals(values, arr.data.toList())
    }
}
