package dev.vitsdk.bench

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
    override val version: String? = BuildConfigVersions.EXECUTORCH
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
    override val version: String? = BuildConfigVersions.LITERT
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

/** Library versions as pinned in app/build.gradle.kts (neither library reports its own at run time). */
object BuildConfigVersions {
    const val APP = "0.1.0"
    const val EXECUTORCH = "1.0.1"
    const val LITERT = "1.4.1"
}

fun loadBackend(runtime: String, file: File, shape: LongArray, threads: Int?, delegate: String?): InferenceBackend =
    when (runtime) {
        "executorch" -> ExecuTorchBackend(file, shape, threads, delegate)
        "litert" -> LiteRtBackend(file, threads, delegate)
        else -> throw IllegalArgumentException("runtime '$runtime' does not run on Android (choose executorch or litert)")
    }
