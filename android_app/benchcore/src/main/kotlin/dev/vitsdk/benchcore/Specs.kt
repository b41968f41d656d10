package dev.vitsdk.benchcore

/** One model to run, from the run spec (run_spec.schema.json). */
data class ModelRun(val file: String, val runtime: String, val delegate: String?, val threads: Int?)

/** The run spec `vitsdk bench --device android` pushes to the phone (or the app builds from a picked bundle). */
data class RunSpec(
    val runId: String,
    val bundle: String,
    val outputDir: String?,
    val models: List<ModelRun>,
    val protocol: Protocol,
) {
    companion object {
        const val SCHEMA = "vitsdk.run_spec/1"
        val RUNTIMES = setOf("executorch", "litert", "coreml", "fpga")
        private val RUN_ID = Regex("^[A-Za-z0-9._-]{1,80}$")

        /** A run id names folders on the phone: letters, digits and ._- only, and never "." or "..". */
        fun isRunId(text: String): Boolean = RUN_ID.matches(text) && text != "." && text != ".."
        private val FIELDS = setOf("schema", "run_id", "bundle", "output_dir", "models", "protocol")
        private val MODEL_FIELDS = setOf("file", "runtime", "delegate", "threads")

        /** run_spec.schema.json allows no other fields: a misspelt one must not be silently ignored. */
        private fun onlyKnown(doc: Map<String, Any?>, known: Set<String>, where: String) {
            val unknown = doc.keys - known
            require(unknown.isEmpty()) { "$where has unknown field(s) ${unknown.sorted()} (allowed: ${known.sorted()})".trimStart() }
        }

        fun parse(text: String): RunSpec {
            val m = Json.parse(text) as? Map<*, *> ?: throw IllegalArgumentException("run spec must be a JSON object")
            @Suppress("UNCHECKED_CAST") val doc = m as Map<String, Any?>
            checkSchema(doc, SCHEMA, "run spec")
            onlyKnown(doc, FIELDS, "")
            val runId = doc.str("run_id")
            require(isRunId(runId)) { "run_id '$runId' must match ${RUN_ID.pattern}" }
            val models = doc.list("models").mapIndexed { i, item ->
                @Suppress("UNCHECKED_CAST") val e = item as? Map<String, Any?> ?: throw IllegalArgumentException("/models/$i must be an object")
                onlyKnown(e, MODEL_FIELDS, "/models/$i")
                val runtime = e.str("runtime")
                require(runtime in RUNTIMES) { "/models/$i/runtime '$runtime' is not one of $RUNTIMES" }
                ModelRun(e.str("file"), runtime, e["delegate"] as? String, (e["threads"] as? Number)?.toInt())
            }
            require(models.isNotEmpty()) { "/models is empty" }
            val protocol = doc.obj("protocol")
            onlyKnown(protocol, Protocol().toMap().keys, "/protocol")
            return RunSpec(runId, doc.str("bundle"), doc["output_dir"] as? String, models, Protocol.fromMap(protocol))
        }

        /** A clear error for another format or a newer major version (same wording as the Python side). */
        fun checkSchema(doc: Map<String, Any?>, expected: String, what: String) {
            val got = doc["schema"] as? String ?: throw IllegalArgumentException("$what has no 'schema' field")
            val (name, version) = got.split("/", limit = 2).let { it[0] to it.getOrElse(1) { "" } }
            val (wantName, wantVersion) = expected.split("/", limit = 2).let { it[0] to it[1] }
            require(name == wantName) { "$what is a '$name' file, expected '$wantName'" }
            if (version != wantVersion) {
                val newer = (version.toIntOrNull() ?: 0) > (wantVersion.toIntOrNull() ?: 0)
                throw IllegalArgumentException("$what schema version $got is not supported, this app reads $expected" +
                    if (newer) " (made by a newer vitsdk; update the app)" else "")
            }
        }
    }
}

/** A model file entry of the bundle manifest (vitsdk.manifest/1). */
data class ManifestFile(
    val path: String, val format: String, val runtime: String, val precision: String?, val delegate: String?,
    val sizeBytes: Long?, val sha256: String, val macs: Long?,
)

data class Manifest(
    val modelName: String?,
    val inputShape: LongArray?,
    val files: List<ManifestFile>,
    val referenceInputs: String?,
    val referenceOutputs: String?,
    val tolerances: Map<String, Double> = emptyMap(),
    /** manifest `exporters`: package -> version that wrote the files (e.g. executorch -> 1.5.1). */
    val exporters: Map<String, String> = emptyMap(),
) {
    /** The manifest's tolerance of max |diff| / max |ref| for a precision (reference.tolerances). */
    fun tolerance(precision: String): Double? = tolerances[precision]

    fun file(path: String): ManifestFile =
        files.firstOrNull { it.path == path } ?: throw IllegalArgumentException(
            "'$path' is not in the bundle manifest (files: ${files.joinToString { it.path }})")

    companion object {
        const val SCHEMA = "vitsdk.manifest/1"

        fun parse(text: String): Manifest {
            @Suppress("UNCHECKED_CAST") val doc = Json.parse(text) as? Map<String, Any?>
                ?: throw IllegalArgumentException("manifest must be a JSON object")
            RunSpec.checkSchema(doc, SCHEMA, "manifest.json")
            val files = doc.list("files").mapIndexed { i, item ->
                @Suppress("UNCHECKED_CAST") val e = item as? Map<String, Any?> ?: throw IllegalArgumentException("/files/$i must be an object")
                ManifestFile(e.str("path"), e.str("format"), e.str("runtime"), e["precision"] as? String,
                    e["delegate"] as? String, (e["size_bytes"] as? Number)?.toLong(), e.str("sha256"),
                    (e["macs"] as? Number)?.toLong())
            }
            @Suppress("UNCHECKED_CAST") val model = doc["model"] as? Map<String, Any?>
            @Suppress("UNCHECKED_CAST") val input = doc["input"] as? Map<String, Any?>
            @Suppress("UNCHECKED_CAST") val ref = doc["reference"] as? Map<String, Any?>
            val shape = (input?.get("shape") as? List<*>)?.map { (it as Number).toLong() }?.toLongArray()
            val tolerances = LinkedHashMap<String, Double>()
            (ref?.get("tolerance") as? Number)?.let { tolerances["fp32"] = it.toDouble() }
            (ref?.get("tolerances") as? Map<*, *>)?.forEach { (k, v) -> if (v is Number) tolerances[k.toString()] = v.toDouble() }
            val exporters = (doc["exporters"] as? Map<*, *>).orEmpty()
                .mapNotNull { (k, v) -> (v as? String)?.let { k.toString() to it } }.toMap()
            return Manifest(model?.get("name") as? String, shape, files,
                (ref?.get("inputs") ?: ref?.get("input")) as? String, (ref?.get("outputs") ?: ref?.get("output")) as? String,
                tolerances, exporters)
        }
    }
}

/** Release versions compared numerically part by part ("1.10.0" > "1.9.2"; a suffix such as "rc1" is ignored). */
object Versions {
    fun compare(a: String, b: String): Int {
        fun parts(v: String) = v.split('.').map { p -> p.takeWhile { it.isDigit() }.toIntOrNull() ?: 0 }
        val x = parts(a); val y = parts(b)
        for (i in 0 until maxOf(x.size, y.size)) {
            val c = x.getOrElse(i) { 0 }.compareTo(y.getOrElse(i) { 0 })
            if (c != 0) return c
        }
        return 0
    }
}
