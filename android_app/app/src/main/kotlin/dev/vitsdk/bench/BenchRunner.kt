package dev.vitsdk.bench

import android.app.ActivityManager
import android.content.Context
import android.os.Build
import android.os.SystemClock
import android.util.Log
import dev.vitsdk.benchcore.EnergyReport
import dev.vitsdk.benchcore.EnergySamples
import dev.vitsdk.benchcore.Json
import dev.vitsdk.benchcore.Manifest
import dev.vitsdk.benchcore.NpyArray
import dev.vitsdk.benchcore.Protocol
import dev.vitsdk.benchcore.Numerics
import dev.vitsdk.benchcore.ResultsDoc
import dev.vitsdk.benchcore.RunSpec
import dev.vitsdk.benchcore.measure
import java.io.File
import java.security.MessageDigest
import java.time.Instant
import java.time.temporal.ChronoUnit

const val TAG = "VitsdkBench"

/**
 * What [BenchRunner] takes from the phone besides a Context: the runtimes, the clock, sleeping and the
 * power rails. The defaults are the real ones; host tests pass fakes where a phone cannot exist.
 */
class RunnerPlatform(
    val loadBackend: (runtime: String, file: File, shape: LongArray, threads: Int?, delegate: String?) -> InferenceBackend = ::loadBackend,
    /** Seconds; every timing and power sample of a run uses this one clock. */
    val clock: () -> Double = { SystemClock.elapsedRealtimeNanos() / 1e9 },
    val sleepMs: (Long) -> Unit = { SystemClock.sleep(it) },
    val monitors: (Context) -> EnergyCounters? = ::powerMonitors,
)

/**
 * Runs a run spec on this phone: for each model, cooldown, idle baseline, load, protocol, numerics,
 * energy; writes one results JSON per model (results.schema.json) and progress.json after each, into
 * the internal files/results/RUN folder and the run spec's output_dir (adb pulls from there).
 */
class BenchRunner(
    private val context: Context,
    private val spec: RunSpec,
    private val log: (String) -> Unit,
    private val platform: RunnerPlatform = RunnerPlatform(),
) {
    private val internalDir = File(context.filesDir, "results/${spec.runId}")
    private val externalDir = spec.outputDir?.let { File(it) }
        ?: context.getExternalFilesDir("results")?.let { File(it, spec.runId) }
    private val written = ArrayList<String>()

    @Volatile var cancelled = false

    fun run() {
        val bundle = File(spec.bundle)
        val manifestFile = File(bundle, "manifest.json")
        val manifestBytes = manifestFile.readBytes()
        val manifest = Manifest.parse(String(manifestBytes))
        val manifestSha = sha256(manifestBytes)
        val device = deviceInfo()
        progress("running", null, null)
        for ((index, m) in spec.models.withIndex()) {
            if (cancelled) { progress("failed", null, "cancelled on the phone"); return }
            progress("running", m.file, null)
            log("${m.file} (${m.runtime})")
            if (index > 0 && spec.protocol.cooldownSeconds > 0) platform.sleepMs((spec.protocol.cooldownSeconds * 1000).toLong())
            val doc = runModel(bundle, manifest, manifestSha, m, device)
            val name = ResultsDoc.fileName(manifest.file(m.file), "android")
            write(name, Json.write(doc))
            written.add(name)
            log("  ${doc["status"]}: median ${(doc["latency"] as? Map<*, *>)?.get("median_ms") ?: "-"} ms, " +
                "energy ${(doc["energy"] as Map<*, *>)["energy_mj"] ?: (doc["energy"] as Map<*, *>)["reason"]}")
        }
        progress("done", null, null)
    }

    private fun runModel(bundle: File, manifest: Manifest, manifestSha: String, m: dev.vitsdk.benchcore.ModelRun,
                         device: Map<String, Any?>): Map<String, Any?> {
        val entry = manifest.file(m.file)
        val p = spec.protocol
        val thermalBefore = thermalState(context)
        val runtimeInfo = linkedMapOf<String, Any?>("name" to m.runtime, "version" to RuntimeVersions.of(m.runtime), "delegate" to m.delegate, "threads" to m.threads)
        fun failed(error: String) = ResultsDoc.build(spec.runId, now(), "failed", error, RuntimeVersions.app, device, runtimeInfo,
            entry, manifest, manifestSha, p, null, EnergyReport.unavailable("the model failed to run"), thermalBefore,
            thermalState(context), linkedMapOf("status" to "skipped", "reason" to "the model failed to run"))
        val file = File(bundle, entry.path)
        try {
            val actual = sha256(file.readBytes())
            if (actual != entry.sha256) return failed("${entry.path}: sha256 $actual does not match the manifest")
        } catch (e: Exception) {
            return failed("cannot read ${file.path}: ${e.message}")
        }
        runtimeRefusal(m.runtime, manifest)?.let { return failed(it) }
        val plugged = isPlugged(context)
        val periodMs = p.powerSamplePeriodMs.toLong().coerceAtLeast(10)
        val sampler: PowerSampler = bestPowerSampler(context, periodMs, platform.clock, platform.monitors)
        var idle: EnergySamples? = null
        if (p.idleBaselineSeconds > 0) {
            sampler.start()
            platform.sleepMs((p.idleBaselineSeconds * 1000).toLong())
            idle = sampler.stop()
        }
        val backend: InferenceBackend
        val loadMs: Double
        try {
            val shape = manifest.inputShape ?: throw IllegalArgumentException("manifest has no input shape")
            val t0 = platform.clock()
            backend = platform.loadBackend(m.runtime, file, shape, m.threads, m.delegate ?: entry.delegate)
            loadMs = (platform.clock() - t0) * 1e3
        } catch (e: Throwable) {
            Log.e(TAG, "load failed", e)
            return failed("${e::class.simpleName}: ${e.message}")
        }
        backend.use { b ->
            runtimeInfo.putAll(mapOf("version" to b.version, "delegate" to b.delegate, "threads" to b.threads))
            val refs = references(bundle, manifest)
            val count = b.inputShape?.fold(1L) { a, c -> a * c }?.toInt() ?: 0
            val input = refs?.first?.takeIf { it.data.size >= count }?.data?.copyOf(count) ?: FloatArray(count)
            sampler.start()
            val timings = measure(p, platform.clock) {
                if (cancelled) throw InterruptedException("cancelled on the phone")
                b.run(input)
            }
            // Samples share the clock of `measure`: keep those of the timed phase, scale by its duration.
            val active = sampler.stop()?.window(timings.tStart, timings.tEnd)
            val energy = EnergyReport.of(active, idle, timings.samplesMs.size, plugged, p,
                if (idle == null) "no idle baseline (protocol idle_baseline_seconds is 0) or no readings from ${sampler.description}"
                else "no readings from ${sampler.description}", timings.durationS)
            val numerics = numerics(b, refs, entry.precision, manifest)
            val status = when {
                timings.stopped == null -> "complete"
                timings.samplesMs.isNotEmpty() -> "partial"
                else -> "failed"
            }
            return ResultsDoc.build(spec.runId, now(), status, timings.stopped, RuntimeVersions.app, device, runtimeInfo, entry,
                manifest, manifestSha, p, ResultsDoc.latency(loadMs, timings, p), energy, thermalBefore, thermalState(context), numerics)
        }
    }

    private fun references(bundle: File, manifest: Manifest): Pair<NpyArray, NpyArray>? {
        val i = manifest.referenceInputs ?: return null
        val o = manifest.referenceOutputs ?: return null
        return try {
            NpyArray.parse(File(bundle, i).readBytes()) to NpyArray.parse(File(bundle, o).readBytes())
        } catch (e: Exception) {
            Log.w(TAG, "reference arrays unreadable", e); null
        }
    }

    private fun numerics(b: InferenceBackend, refs: Pair<NpyArray, NpyArray>?, precision: String?, manifest: Manifest): Map<String, Any?> {
        if (refs == null) return linkedMapOf("status" to "skipped", "reason" to "the bundle has no readable reference arrays")
        val (inputs, outputs) = refs
        val batch = (b.inputShape?.get(0) ?: 1L).toInt()
        val rows = (inputs.shape[0].toInt() / batch) * batch
        if (rows == 0) return linkedMapOf("status" to "skipped", "reason" to "fewer reference inputs than the batch size")
        val got = ArrayList<Float>()
        for (r in 0 until rows step batch) got.addAll(b.run(inputs.rows(r, batch)).toList())
        return Numerics.check(got.toFloatArray(), outputs.rows(0, rows), rows, manifest.tolerance(precision ?: "fp32"))
    }

    private fun deviceInfo(): Map<String, Any?> {
        val mem = ActivityManager.MemoryInfo().also { context.getSystemService(ActivityManager::class.java)?.getMemoryInfo(it) }
        return linkedMapOf(
            "platform" to "android", "name" to Build.MODEL, "manufacturer" to Build.MANUFACTURER, "model" to Build.MODEL,
            "soc" to if (Build.VERSION.SDK_INT >= 31) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}" else Build.HARDWARE,
            "os" to "android", "os_version" to Build.VERSION.RELEASE, "api_level" to Build.VERSION.SDK_INT,
            "cpu_cores" to Runtime.getRuntime().availableProcessors(), "memory_bytes" to mem.totalMem.takeIf { it > 0 }, "serial" to null,
        )
    }

    /** progress.json: what `vitsdk bench --device android` polls; written after the results it lists. */
    private fun progress(state: String, current: String?, error: String?) {
        val doc = linkedMapOf<String, Any?>("run_id" to spec.runId, "state" to state, "done" to written.size,
            "total" to spec.models.size, "current" to current, "files" to written.toList(), "error" to error)
        write("progress.json", Json.write(doc))
    }

    fun fail(error: String) = progress("failed", null, error)

    companion object {
        /**
         * A run spec the app refuses (unreadable, unknown fields, ...): when it still names a usable run_id,
         * progress.json says `failed` with [error] where the host driver polls, so `vitsdk bench` stops
         * waiting and reports why instead of timing out.
         */
        fun refuse(context: Context, specPath: String, error: String) {
            @Suppress("UNCHECKED_CAST")
            val doc = try { Json.parse(File(specPath).readText()) as? Map<String, Any?> } catch (e: Exception) { null } ?: return
            val runId = (doc["run_id"] as? String)?.takeIf { RunSpec.isRunId(it) } ?: return
            BenchRunner(context, RunSpec(runId, "", doc["output_dir"] as? String, emptyList(), Protocol()), {}).fail(error)
        }
    }

    /** Written to a temporary name, then renamed: a reader never sees half a file. */
    private fun write(name: String, text: String) {
        for (dir in listOfNotNull(internalDir, externalDir)) {
            try {
                dir.mkdirs()
                val tmp = File(dir, ".$name.tmp")
                tmp.writeText(text)
                if (!tmp.renameTo(File(dir, name))) throw java.io.IOException("rename failed in $dir")
            } catch (e: Exception) {
                Log.w(TAG, "cannot write $name to $dir", e)
            }
        }
    }

    private fun now(): String = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString()

    private fun sha256(bytes: ByteArray): String =
        MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
}
