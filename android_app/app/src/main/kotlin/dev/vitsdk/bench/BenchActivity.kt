package dev.vitsdk.bench

import android.app.Activity
import android.content.Intent
import android.net.Uri
import android.os.Bundle
import android.provider.DocumentsContract
import android.util.Log
import android.view.WindowManager
import android.widget.Button
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import dev.vitsdk.benchcore.Manifest
import dev.vitsdk.benchcore.ModelRun
import dev.vitsdk.benchcore.Protocol
import dev.vitsdk.benchcore.RunSpec
import java.io.File
import java.time.LocalDateTime
import java.time.format.DateTimeFormatter

/**
 * The benchmark runs here, in the foreground, with the screen kept on (a backgrounded app is throttled
 * and its timings mean nothing).
 *
 * Headless: `adb shell am start -n dev.vitsdk.bench/.BenchActivity -a dev.vitsdk.bench.RUN
 *            --es run_spec /data/local/tmp/vitsdk/RUN/run_spec.json` (what `vitsdk bench --device android` does).
 * By hand: "Pick bundle" (a folder with manifest.json, copied into the app), "Run", "Share results".
 */
class BenchActivity : Activity() {
    private lateinit var logView: TextView
    private var bundleDir: File? = null
    private var lastResults: File? = null
    @Volatile private var runner: BenchRunner? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        val layout = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL; setPadding(24, 24, 24, 24) }
        val buttons = LinearLayout(this).apply { orientation = LinearLayout.HORIZONTAL }
        buttons.addView(Button(this).apply { text = "Pick bundle"; setOnClickListener { pickBundle() } })
        buttons.addView(Button(this).apply { text = "Run"; setOnClickListener { runPicked() } })
        buttons.addView(Button(this).apply { text = "Share results"; setOnClickListener { share() } })
        layout.addView(buttons)
        logView = TextView(this).apply { textSize = 12f; setTextIsSelectable(true) }
        layout.addView(ScrollView(this).apply { addView(logView) })
        setContentView(layout)
        log("vitsdk bench ${RuntimeVersions.app}: ExecuTorch ${RuntimeVersions.executorch}, LiteRT ${RuntimeVersions.litert}")
        if (!isPlugged(this)) log("unplugged: battery energy can be measured") else
            log("plugged in: battery energy is refused (use adb over Wi-Fi and unplug; power monitors still work)")
        handle(intent)
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        handle(intent)
    }

    override fun onDestroy() {
        runner?.cancelled = true
        super.onDestroy()
    }

    private fun handle(intent: Intent?) {
        val spec = try {
            runSpecFrom(intent) ?: return
        } catch (e: Exception) {
            val path = intent?.getStringExtra(EXTRA_RUN_SPEC)
            log("cannot read run spec $path: ${e.message}")
            Log.e(TAG, "bad run spec", e)
            path?.let { BenchRunner.refuse(this, it, "run spec refused: ${e.message}") }
            return
        }
        start(spec)
    }

    private fun start(spec: RunSpec) {
        if (runner != null) { log("a run is in progress"); return }
        val r = BenchRunner(this, spec, { msg -> runOnUiThread { log(msg) } })
        runner = r
        lastResults = File(filesDir, "results/${spec.runId}")
        log("run ${spec.runId}: ${spec.models.size} model(s)")
        Thread({
            try {
                r.run()
                runOnUiThread { log("done: results in ${lastResults?.path}") }
            } catch (e: Throwable) {
                Log.e(TAG, "run failed", e)
                r.fail("${e::class.simpleName}: ${e.message}")
                runOnUiThread { log("run failed: ${e.message}") }
            } finally {
                runner = null
            }
        }, "vitsdk-bench").apply { priority = Thread.MAX_PRIORITY }.start()
    }

    private fun pickBundle() {
        startActivityForResult(Intent(Intent.ACTION_OPEN_DOCUMENT_TREE), PICK_BUNDLE)
    }

    @Deprecated("Activity result API needs androidx.activity; the platform callback is enough here")
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        super.onActivityResult(requestCode, resultCode, data)
        val tree = data?.data
        if (requestCode != PICK_BUNDLE || resultCode != RESULT_OK || tree == null) return
        Thread {
            try {
                val dest = File(filesDir, "bundles/picked").apply { deleteRecursively(); mkdirs() }
                copyTree(tree, DocumentsContract.getTreeDocumentId(tree), dest)
                Manifest.parse(File(dest, "manifest.json").readText())
                bundleDir = dest
                runOnUiThread { log("bundle copied to $dest") }
            } catch (e: Exception) {
                runOnUiThread { log("not a bundle (needs manifest.json from `vitsdk export`): ${e.message}") }
            }
        }.start()
    }

    private fun copyTree(tree: Uri, docId: String, dest: File) {
        val children = DocumentsContract.buildChildDocumentsUriUsingTree(tree, docId)
        contentResolver.query(children, arrayOf(DocumentsContract.Document.COLUMN_DOCUMENT_ID,
            DocumentsContract.Document.COLUMN_DISPLAY_NAME, DocumentsContract.Document.COLUMN_MIME_TYPE), null, null, null)?.use { c ->
            while (c.moveToNext()) {
                val id = c.getString(0); val name = c.getString(1); val mime = c.getString(2)
                val target = File(dest, name)
                if (mime == DocumentsContract.Document.MIME_TYPE_DIR) {
                    target.mkdirs(); copyTree(tree, id, target)
                } else {
                    contentResolver.openInputStream(DocumentsContract.buildDocumentUriUsingTree(tree, id))?.use { input ->
                        target.outputStream().use { input.copyTo(it) }
                    }
                }
            }
        }
    }

    private fun runPicked() {
        val dir = bundleDir ?: run { log("pick a bundle folder first"); return }
        val manifest = Manifest.parse(File(dir, "manifest.json").readText())
        val models = manifest.files.filter { it.runtime == "executorch" || it.runtime == "litert" }
            .map { ModelRun(it.path, it.runtime, it.delegate, null) }
        if (models.isEmpty()) { log("the bundle has no ExecuTorch or LiteRT file"); return }
        val runId = "manual-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss"))
        start(RunSpec(runId, dir.path, null, models, Protocol()))
    }

    private fun share() {
        val dir = lastResults ?: run { log("no results yet"); return }
        val files = dir.listFiles { f -> f.name.endsWith(".json") && f.name != "progress.json" }.orEmpty()
        if (files.isEmpty()) { log("no results yet"); return }
        val uris = ArrayList(files.map { ResultsProvider.uriFor(this, it) })
        startActivity(Intent.createChooser(Intent(Intent.ACTION_SEND_MULTIPLE).apply {
            type = "application/json"
            putParcelableArrayListExtra(Intent.EXTRA_STREAM, uris)
            addFlags(Intent.FLAG_GRANT_READ_URI_PERMISSION)
        }, "Share results"))
    }

    private fun log(msg: String) {
        Log.i(TAG, msg)
        logView.append(msg + "\n")
    }

    companion object {
        private const val PICK_BUNDLE = 1
        const val ACTION_RUN = "dev.vitsdk.bench.RUN"
        const val EXTRA_RUN_SPEC = "run_spec"

        /**
         * The run spec a `RUN` intent names (`--es run_spec PATH`, what `vitsdk bench --device android`
         * sends), or null for any other intent (the launcher's). Throws with the reason for a bad spec.
         */
        fun runSpecFrom(intent: Intent?): RunSpec? {
            if (intent?.action != ACTION_RUN) return null
            val path = intent.getStringExtra(EXTRA_RUN_SPEC)
                ?: throw IllegalArgumentException("the $ACTION_RUN intent has no '$EXTRA_RUN_SPEC' extra (--es $EXTRA_RUN_SPEC PATH)")
            return RunSpec.parse(File(path).readText())
        }
    }
}
