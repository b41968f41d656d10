// A compile-time stand-in for the part of ExecuTorch's Android Java API that the app calls, used ONLY by
// the host tests (tests/test_android_app.py), never by Gradle or on a phone. Why it exists: the AAR
// org.pytorch:executorch-android is not served by the Maven Central this project's machines reach (its
// metadata answers 404 there, checked 2026-11-28), so its classes.jar cannot be put on kotlinc's classpath.
// Signatures follow extension/android/executorch_android/src/main/java/org/pytorch/executorch/{Module,
// Tensor,EValue}.kt of pytorch/executorch (branch release/1.4 and main after the 1.5 cut agree on all of
// them): a call the real API lacks fails to compile here as it would in Android Studio. Bodies only throw.
package org.pytorch.executorch

import java.io.Closeable

private fun hostStub(): Nothing = throw UnsupportedOperationException(
    "ExecuTorch host stub: the real org.pytorch:executorch-android runs only in the app built by Android Studio")

open class Module private constructor() : Closeable {
    open fun forward(vararg inputs: EValue): Array<EValue> = hostStub()
    open fun loadMethod(methodName: String): Unit = hostStub()
    open fun destroy(): Unit = hostStub()
    override fun close(): Unit = hostStub()

    companion object {
        const val LOAD_MODE_FILE = 0
        const val LOAD_MODE_MMAP = 1

        @JvmStatic
        @JvmOverloads
        fun load(modelPath: String?, loadMode: Int = LOAD_MODE_FILE, numThreads: Int = 0): Module = hostStub()
    }
}

abstract class Tensor internal constructor() {
    open val dataAsFloatArray: FloatArray get() = hostStub()

    companion object {
        @JvmStatic
        fun fromBlob(data: FloatArray, shape: LongArray): Tensor = hostStub()
    }
}

class EValue private constructor() {
    fun toTensor(): Tensor = hostStub()

    companion object {
        @JvmStatic
        fun from(tensor: Tensor): EValue = hostStub()
    }
}
