package dev.vitsdk.benchcore

/**
 * A small JSON reader and writer, so the pure module needs no Android (org.json) or library classes.
 *
 * Values map to Kotlin as: object -> Map<String, Any?> (insertion-ordered), array -> List<Any?>,
 * number -> Double (or Long when written without fraction/exponent and it fits), string, Boolean, null.
 */
object Json {
    class ParseError(message: String) : IllegalArgumentException(message)

    fun parse(text: String): Any? {
        val p = Parser(text)
        p.skipSpace()
        val value = p.value()
        p.skipSpace()
        if (p.pos != text.length) throw ParseError("trailing characters at offset ${p.pos}")
        return value
    }

    fun write(value: Any?, indent: Int = 2): String {
        val sb = StringBuilder()
        emit(value, sb, indent, 0)
        return sb.toString()
    }

    private fun emit(value: Any?, sb: StringBuilder, indent: Int, level: Int) {
        when (value) {
            null -> sb.append("null")
            is Boolean -> sb.append(value.toString())
            is Int, is Long, is Short, is Byte -> sb.append(value.toString())
            is Float -> emitDouble(value.toDouble(), sb)
            is Double -> emitDouble(value, sb)
            is String -> emitString(value, sb)
            is Map<*, *> -> {
                if (value.isEmpty()) { sb.append("{}"); return }
                sb.append('{')
                var first = true
                for ((k, v) in value) {
                    if (!first) sb.append(',')
                    first = false
                    newline(sb, indent, level + 1)
                    emitString(k.toString(), sb)
                    sb.append(if (indent > 0) ": " else ":")
                    emit(v, sb, indent, level + 1)
                }
                newline(sb, indent, level)
                sb.append('}')
            }
            is Iterable<*> -> {
                val items = value.toList()
                if (items.isEmpty()) { sb.append("[]"); return }
                sb.append('[')
                items.forEachIndexed { i, v ->
                    if (i > 0) sb.append(',')
                    newline(sb, indent, level + 1)
                    emit(v, sb, indent, level + 1)
                }
                newline(sb, indent, level)
                sb.append(']')
            }
            is DoubleArray -> emit(value.toList(), sb, indent, level)
            is LongArray -> emit(value.toList(), sb, indent, level)
            is IntArray -> emit(value.toList(), sb, indent, level)
            else -> throw IllegalArgumentException("cannot write ${value::class.simpleName} as JSON")
        }
    }

    private fun newline(sb: StringBuilder, indent: Int, level: Int) {
        if (indent > 0) { sb.append('\n'); repeat(indent * level) { sb.append(' ') } }
    }

    private fun emitDouble(d: Double, sb: StringBuilder) {
        // JSON has no NaN or infinity: a number that is not finite was not measured, so it is null.
        if (d.isNaN() || d.isInfinite()) sb.append("null") else sb.append(d.toString())
    }

    private fun emitString(s: String, sb: StringBuilder) {
        sb.append('"')
        for (c in s) {
            when (c) {
                '"' -> sb.append("\\\"")
                '\\' -> sb.append("\\\\")
                '\n' -> sb.append("\\n")
                '\r' -> sb.append("\\r")
                '\t' -> sb.append("\\t")
                else -> if (c < ' ') sb.append(String.format("\\u%04x", c.code)) else sb.append(c)
            }
        }
        sb.append('"')
    }

    private class Parser(val s: String) {
        var pos = 0

        fun skipSpace() {
            while (pos < s.length && s[pos] in " \t\r\n") pos++
        }

        fun value(): Any? {
            if (pos >= s.length) throw ParseError("unexpected end of JSON (truncated?)")
            return when (val c = s[pos]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> str()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> if (c == '-' || c.isDigit()) num() else throw ParseError("unexpected '$c' at offset $pos")
            }
        }

        private fun literal(word: String, v: Any?): Any? {
            if (!s.startsWith(word, pos)) throw ParseError("bad literal at offset $pos")
            pos += word.length
            return v
        }

        private fun obj(): Map<String, Any?> {
            val m = LinkedHashMap<String, Any?>()
            pos++
            skipSpace()
            if (peek() == '}') { pos++; return m }
            while (true) {
                skipSpace()
                if (peek() != '"') throw ParseError("expected a key at offset $pos")
                val k = str()
                skipSpace()
                expect(':')
                skipSpace()
                m[k] = value()
                skipSpace()
                when (next()) {
                    ',' -> continue
                    '}' -> return m
                    else -> throw ParseError("expected ',' or '}' at offset ${pos - 1}")
                }
            }
        }

        private fun arr(): List<Any?> {
            val l = ArrayList<Any?>()
            pos++
            skipSpace()
            if (peek() == ']') { pos++; return l }
            while (true) {
                skipSpace()
                l.add(value())
                skipSpace()
                when (next()) {
                    ',' -> continue
                    ']' -> return l
                    else -> throw ParseError("expected ',' or ']' at offset ${pos - 1}")
                }
            }
        }

        private fun str(): String {
            expect('"')
            val sb = StringBuilder()
            while (true) {
                val c = next()
                when (c) {
                    '"' -> return sb.toString()
                    '\\' -> when (val e = next()) {
                        '"' -> sb.append('"'); '\\' -> sb.append('\\'); '/' -> sb.append('/')
                        'b' -> sb.append('\b'); 'f' -> sb.append('\u000c'); 'n' -> sb.append('\n')
                        'r' -> sb.append('\r'); 't' -> sb.append('\t')
                        'u' -> {
                            if (pos + 4 > s.length) throw ParseError("unexpected end of JSON (truncated?)")
                            sb.append(s.substring(pos, pos + 4).toInt(16).toChar()); pos += 4
                        }
                        else -> throw ParseError("bad escape '\\$e' at offset ${pos - 1}")
                    }
                    else -> sb.append(c)
                }
            }
        }

        private fun num(): Any {
            val start = pos
            if (peek() == '-') pos++
            while (pos < s.length && (s[pos].isDigit() || s[pos] in ".eE+-")) pos++
            val text = s.substring(start, pos)
            val isInt = text.none { it in ".eE" }
            return if (isInt) text.toLongOrNull() ?: text.toDouble() else
                text.toDoubleOrNull() ?: throw ParseError("bad number '$text' at offset $start")
        }

        private fun peek(): Char = if (pos < s.length) s[pos] else throw ParseError("unexpected end of JSON (truncated?)")
        private fun next(): Char = peek().also { pos++ }
        private fun expect(c: Char) {
            if (next() != c) throw ParseError("expected '$c' at offset ${pos - 1}")
        }
    }
}

/** Typed access to parsed JSON, with errors that name the key. */
@Suppress("UNCHECKED_CAST")
fun Map<String, Any?>.obj(key: String): Map<String, Any?> =
    this[key] as? Map<String, Any?> ?: throw IllegalArgumentException("'$key' must be an object")

@Suppress("UNCHECKED_CAST")
fun Map<String, Any?>.list(key: String): List<Any?> =
    this[key] as? List<Any?> ?: throw IllegalArgumentException("'$key' must be an array")

fun Map<String, Any?>.num(key: String): Double =
    (this[key] as? Number)?.toDouble() ?: throw IllegalArgumentException("'$key' must be a number")

fun Map<String, Any?>.numOrNull(key: String): Double? = (this[key] as? Number)?.toDouble()

fun Map<String, Any?>.str(key: String): String =
    this[key] as? String ?: throw IllegalArgumentException("'$key' must be a string")

fun List<Any?>.doubles(): DoubleArray = DoubleArray(size) { (this[it] as Number).toDouble() }
