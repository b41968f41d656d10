package dev.vitsdk.bench

import dev.vitsdk.benchcore.Json
import dev.vitsdk.benchcore.Manifest
import dev.vitsdk.benchcore.Versions
import dev.vitsdk.benchcore.str
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** One loaded model: float32 NCHW in, float32 logits out. Loaded once, run many times. */
interface InferenceBackend : AutoCloseable {
    val runtime: String
    val version: String?
    val delegate: String?
    val threads: Int?
    /** The model's input shape as the runtime reports it, or null when it does not. */
    val inputShape: LongArray?
    fun run(input: FloatArray): FloatArray
}

/** ExecuTorch (.pte): org.pytorch.executorch.Module; XNNPACK is inside the program when it was lowered to it. */
class ExecuTorchBackend(file: File, shape: LongArray, threads: Int?, delegate: String?) : InferenceBackend {
    private val module = org.pytorch.executorch.Module.load(
        file.absolutePath, org.pytorch.executorch.Module.LOAD_MODE_FILE, threads ?: 0)
    private val shape = shape.copyOf()

    init {
        module.loadMethod("forward")   // loading is timed with the load, not with the first inference
    }

    override val runtime = "executorch"
    override val version: String? = RuntimeVersions.executorch
    override val delegate = delegate ?: "xnnpack"
    override val threads = threads
    override val inputShape: LongArray = this.shape

    override fun run(input: FloatArray): FloatArray {
        val tensor = org.pytorch.executorch.Tensor.fromBlob(input, shape)
        return module.forward(org.pytorch.executorch.EValue.from(tensor))[0].toTensor().dataAsFloatArray
    }

    override fun close() = module.destroy()
}

/** LiteRT (.tflite) through the Interpreter API (org.tensorflow.lite), CPU with XNNPACK. */
class LiteRtBackend(file: File, threads: Int?, delegate: String?) : InferenceBackend {
    private val interpreter = org.tensorflow.lite.Interpreter(
        file, org.tensorflow.lite.Interpreter.Options().apply {
            if (threads != null) setNumThreads(threads)
            setUseXNNPACK(delegate == null || delegate == "xnnpack")
        })
    private val inShape = interpreter.getInputTensor(0).shape()
    private val outCount = interpreter.getOutputTensor(0).numElements()
    private val inBuf = ByteBuffer.allocateDirect(interpreter.getInputTensor(0).numBytes()).order(ByteOrder.nativeOrder())
    private val outBuf = ByteBuffer.allocateDirect(outCount * 4).order(ByteOrder.nativeOrder())
    private val out = FloatArray(outCount)

    override val runtime = "litert"
    override val version: String? = RuntimeVersions.litert
    override val delegate = delegate ?: "xnnpack"
    override val threads = threads
    override val inputShape: LongArray = LongArray(inShape.size) { inShape[it].toLong() }

    override fun run(input: FloatArray): FloatArray {
        inBuf.rewind(); inBuf.asFloatBuffer().put(input)
        outBuf.rewind()
        interpreter.run(inBuf, outBuf)
        outBuf.rewind(); outBuf.asFloatBuffer().get(out)
        return out.copyOf()
    }

    override fun close() = interpreter.close()
}

/**
 * The runtime versions the app was built with: schemas/runtime_versions.json, which app/build.gradle.kts
 * both resolves its dependencies from and packages as a Java resource (neither runtime reports its own
 * version at run time). One file, so the results can never name a version other than the one linked.
 */
object RuntimeVersions {
    const val RESOURCE = "/runtime_versions.json"
    private val doc: Map<String, Any?> by lazy {
        val text = RuntimeVersions::class.java.getResourceAsStream(RESOURCE)?.use { String(it.readBytes()) }
            ?: throw IllegalStateException("$RESOURCE is missing from the app: build it with android_app/app/build.gradle.kts")
        @Suppress("UNCHECKED_CAST")
        Json.parse(text) as Map<String, Any?>
    }
    val app: String get() = doc.str("app")
    val executorch: String get() = doc.str("executorch")
    val litert: String get() = doc.str("litert")

    /** The version of [runtime] linked into this app, or null for a runtime it does not carry. */
    fun of(runtime: String): String? = when (runtime) {
        "executorch" -> executorch
        "litert" -> litert
        else -> null
    }
}

/**
 * Why this app must not run a file, or null: ExecuTorch reads programs written by the same or an older
 * ExecuTorch, not newer ones, so a .pte whose manifest names a newer exporter is refused before loading.
 */
fun runtimeRefusal(runtime: String, manifest: Manifest): String? {
    if (runtime != "executorch") return null
    val wrote = manifest.exporters["executorch"] ?: return null
    val runs = RuntimeVersions.executorch
    return if (Versions.compare(wrote, runs) > 0)
        "the .pte was written by ExecuTorch $wrote (manifest exporters.executorch) and this app runs ExecuTorch $runs, " +
            "which cannot read programs from a newer ExecuTorch: rebuild the app with executorch $wrote in " +
            "schemas/runtime_versions.json, or export with executorch==$runs"
    else null
}

fun loadBackend(runtime: String, file: File, shape: LongArray, threads: Int?, delegate: String?): InferenceBackend =
    when (runtime) {
        "executorch" -> ExecuTorchBackend(file, shape, threads, delegate)
        "litert" -> LiteRtBackend(file, threads, delegate)
        else -> throw IllegalArgumentException("runtime '$runtime' does not run on Android (choose executorch or litert)")
    }
