package dev.vitsdk.benchcore

import java.nio.ByteBuffer
import java.nio.ByteOrder

/** A float array read from a NumPy .npy file (the bundle's reference inputs/outputs). */
class NpyArray(val shape: LongArray, val data: FloatArray) {
    /** Rows along the first axis, `count` at a time, each as a flat FloatArray. */
    fun rows(start: Int, count: Int): FloatArray {
        val per = (data.size / shape[0]).toInt()
        return data.copyOfRange(start * per, (start + count) * per)
    }

    companion object {
        private val MAGIC = byteArrayOf(0x93.toByte(), 'N'.code.toByte(), 'U'.code.toByte(), 'M'.code.toByte(), 'P'.code.toByte(), 'Y'.code.toByte())

        /** Reads little-endian float32/float64 C-order arrays (what numpy.save writes for the references). */
        fun parse(bytes: ByteArray): NpyArray {
            require(bytes.size >= 10 && bytes.copyOfRange(0, 6).contentEquals(MAGIC)) { "not a .npy file" }
            val major = bytes[6].toInt()
            val buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
            val headerLen = if (major == 1) buf.getShort(8).toInt() and 0xffff else buf.getInt(8)
            val headerStart = if (major == 1) 10 else 12
            require(bytes.size >= headerStart + headerLen) { ".npy header truncated" }
            val header = String(bytes, headerStart, headerLen, Charsets.ISO_8859_1)
            val descr = Regex("'descr':\\s*'([^']+)'").find(header)?.groupValues?.get(1) ?: error("no descr in .npy header")
            require(!Regex("'fortran_order':\\s*True").containsMatchIn(header)) { "Fortran-order .npy is not supported" }
            val shapeText = Regex("'shape':\\s*\\(([^)]*)\\)").find(header)?.groupValues?.get(1) ?: error("no shape in .npy header")
            val shape = shapeText.split(",").map { it.trim() }.filter { it.isNotEmpty() }.map { it.toLong() }.toLongArray()
            val count = shape.fold(1L) { a, b -> a * b }.toInt()
            val body = ByteBuffer.wrap(bytes, headerStart + headerLen, bytes.size - headerStart - headerLen).order(ByteOrder.LITTLE_ENDIAN)
            val data = when (descr) {
                "<f4" -> { require(body.remaining() >= count * 4) { ".npy data truncated" }; FloatArray(count) { body.getFloat() } }
                "<f8" -> { require(body.remaining() >= count * 8) { ".npy data truncated" }; FloatArray(count) { body.getDouble().toFloat() } }
                else -> throw IllegalArgumentException("unsupported .npy dtype '$descr' (expected <f4 or <f8)")
            }
            return NpyArray(shape, data)
        }
    }
}

/**
 * The numerics check of the results schema, judged like the Python host runner: the manifest's metric
 * max |diff| / max |reference| against its tolerance for the file's precision; without a tolerance
 * (int8 in older bundles), top-1 agreement of at least [INT8_TOP1_MIN].
 */
object Numerics {
    const val METRIC = "max_abs_diff / max_abs_ref"
    const val INT8_TOP1_MIN = 0.9

    fun check(got: FloatArray, want: FloatArray, rows: Int, relTolerance: Double?): Map<String, Any?> {
        if (got.size != want.size) return linkedMapOf("status" to "fail", "reason" to "output has ${got.size} values, reference ${want.size}")
        var diff = 0.0
        var maxRef = 0.0
        for (i in got.indices) {
            diff = maxOf(diff, kotlin.math.abs(got[i].toDouble() - want[i]))
            maxRef = maxOf(maxRef, kotlin.math.abs(want[i].toDouble()))
        }
        val rel = diff / maxOf(maxRef, 1e-12)
        val per = got.size / rows
        var agree = 0
        for (r in 0 until rows) {
            if (argmax(got, r * per, per) == argmax(want, r * per, per)) agree++
        }
        val top1 = agree.toDouble() / rows
        val ok = if (relTolerance != null) rel <= relTolerance else top1 >= INT8_TOP1_MIN
        return linkedMapOf(
            "status" to if (ok) "pass" else "fail",
            "reason" to when {
                ok -> null
                relTolerance != null -> "max |diff| / max |ref| = $rel > $relTolerance"
                else -> "top-1 agreement $top1 < $INT8_TOP1_MIN"
            },
            "metric" to if (relTolerance != null) METRIC else "top1_agree",
            "max_abs_diff" to diff, "rel_diff" to rel, "tolerance" to relTolerance, "top1_agree" to top1,
        )
    }

    private fun argmax(a: FloatArray, start: Int, n: Int): Int {
        var best = 0
        for (i in 1 until n) if (a[start + i] > a[start + best]) best = i
        return best
    }
}
