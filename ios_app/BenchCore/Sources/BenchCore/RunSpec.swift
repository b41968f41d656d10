import Foundation

/// The measurement protocol every device follows (schemas/run_spec.schema.json `$defs/protocol`).
///
/// Warm-up ends when both `warmupRuns` and `warmupSeconds` are met; timing ends when both
/// `minRuns` and `minSeconds` are met, or at `maxRuns` / `maxSeconds`, whichever comes first.
public struct BenchProtocol: Equatable, Sendable {
    public var warmupRuns: Int
    public var warmupSeconds: Double
    public var minRuns: Int
    public var minSeconds: Double
    public var maxRuns: Int?
    public var maxSeconds: Double?
    public var cooldownSeconds: Double
    public var powerSamplePeriodMs: Double
    public var idleBaselineSeconds: Double
    public var requireUnplugged: Bool
    public var stabilityCvMax: Double
    public var stabilityDriftMax: Double

    public init(warmupRuns: Int = 10, warmupSeconds: Double = 2, minRuns: Int = 50, minSeconds: Double = 10,
                maxRuns: Int? = nil, maxSeconds: Double? = nil, cooldownSeconds: Double = 10,
                powerSamplePeriodMs: Double = 100, idleBaselineSeconds: Double = 10,
                requireUnplugged: Bool = true, stabilityCvMax: Double = 0.1,
                stabilityDriftMax: Double = 0.05) throws {
        self.warmupRuns = warmupRuns
        self.warmupSeconds = warmupSeconds
        self.minRuns = minRuns
        self.minSeconds = minSeconds
        self.maxRuns = maxRuns
        self.maxSeconds = maxSeconds
        self.cooldownSeconds = cooldownSeconds
        self.powerSamplePeriodMs = powerSamplePeriodMs
        self.idleBaselineSeconds = idleBaselineSeconds
        self.requireUnplugged = requireUnplugged
        self.stabilityCvMax = stabilityCvMax
        self.stabilityDriftMax = stabilityDriftMax
        try validate()
    }

    /// The same bounds as the schema, so a bad spec fails here with the field's name.
    public func validate() throws {
        func bad(_ field: String, _ rule: String) -> BenchError {
            .badInput("run spec protocol.\(field) must be \(rule)")
        }
        guard warmupRuns >= 0 else { throw bad("warmup_runs", ">= 0") }
        guard warmupSeconds >= 0, warmupSeconds.isFinite else { throw bad("warmup_seconds", ">= 0") }
        guard minRuns >= 1 else { throw bad("min_runs", ">= 1") }
        guard minSeconds >= 0, minSeconds.isFinite else { throw bad("min_seconds", ">= 0") }
        if let maxRuns, maxRuns < 1 { throw bad("max_runs", ">= 1 or null") }
        if let maxSeconds, !(maxSeconds > 0) { throw bad("max_seconds", "> 0 or null") }
        guard cooldownSeconds >= 0, cooldownSeconds.isFinite else { throw bad("cooldown_seconds", ">= 0") }
        guard powerSamplePeriodMs > 0 else { throw bad("power_sample_period_ms", "> 0") }
        guard idleBaselineSeconds >= 0 else { throw bad("idle_baseline_seconds", ">= 0") }
        guard stabilityCvMax > 0 else { throw bad("stability_cv_max", "> 0") }
        guard stabilityDriftMax > 0 else { throw bad("stability_drift_max", "> 0") }
    }

    /// Reads the protocol object of a run spec (snake_case keys, defaults as in the schema).
    public init(json: JSON) throws {
        guard let o = json.objectValue else { throw BenchError.badInput("run spec protocol must be an object") }
        let known: Set<String> = ["warmup_runs", "warmup_seconds", "min_runs", "min_seconds", "max_runs",
                                  "max_seconds", "cooldown_seconds", "power_sample_period_ms",
                                  "idle_baseline_seconds", "require_unplugged", "stability_cv_max",
                                  "stability_drift_max"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw BenchError.badInput("run spec protocol has an unknown field '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        func req<T>(_ key: String, _ get: (JSON) -> T?, _ kind: String) throws -> T {
            guard let v = o[key] else { throw BenchError.badInput("run spec protocol.\(key) is missing") }
            guard let t = get(v) else { throw BenchError.badInput("run spec protocol.\(key) must be \(kind)") }
            return t
        }
        func opt<T>(_ key: String, _ get: (JSON) -> T?, _ kind: String) throws -> T? {
            guard let v = o[key], !v.isNull else { return nil }
            guard let t = get(v) else { throw BenchError.badInput("run spec protocol.\(key) must be \(kind) or null") }
            return t
        }
        try self.init(
            warmupRuns: req("warmup_runs", { $0.intValue }, "an integer"),
            warmupSeconds: req("warmup_seconds", { $0.doubleValue }, "a number"),
            minRuns: req("min_runs", { $0.intValue }, "an integer"),
            minSeconds: req("min_seconds", { $0.doubleValue }, "a number"),
            maxRuns: opt("max_runs", { $0.intValue }, "an integer"),
            maxSeconds: opt("max_seconds", { $0.doubleValue }, "a number"),
            cooldownSeconds: req("cooldown_seconds", { $0.doubleValue }, "a number"),
            powerSamplePeriodMs: req("power_sample_period_ms", { $0.doubleValue }, "a number"),
            idleBaselineSeconds: opt("idle_baseline_seconds", { $0.doubleValue }, "a number") ?? 10,
            requireUnplugged: opt("require_unplugged", { $0.boolValue }, "true/false") ?? true,
            stabilityCvMax: opt("stability_cv_max", { $0.doubleValue }, "a number") ?? 0.1,
            stabilityDriftMax: opt("stability_drift_max", { $0.doubleValue }, "a number") ?? 0.05)
    }

    /// The protocol as the results file records it (every field, defaults filled in).
    public var json: JSON {
        .object([
            "warmup_runs": .int(warmupRuns),
            "warmup_seconds": .double(warmupSeconds),
            "min_runs": .int(minRuns),
            "min_seconds": .double(minSeconds),
            "max_runs": .int(maxRuns),
            "max_seconds": .number(maxSeconds),
            "cooldown_seconds": .double(cooldownSeconds),
            "power_sample_period_ms": .double(powerSamplePeriodMs),
            "idle_baseline_seconds": .double(idleBaselineSeconds),
            "require_unplugged": .bool(requireUnplugged),
            "stability_cv_max": .double(stabilityCvMax),
            "stability_drift_max": .double(stabilityDriftMax),
        ])
    }
}

/// One model file of the bundle to run, on one runtime (run spec `models[]`).
public struct ModelRun: Equatable, Sendable {
    public var file: String
    public var runtime: Runtime
    /// Core ML: cpu | cpu_gpu | cpu_ane | all (compute units); ExecuTorch: the delegate the file
    /// was lowered to (recorded, not switchable at run time). nil: the manifest's.
    public var delegate: String?
    public var threads: Int?

    public init(file: String, runtime: Runtime, delegate: String? = nil, threads: Int? = nil) {
        self.file = file
        self.runtime = runtime
        self.delegate = delegate
        self.threads = threads
    }
}

/// The runtimes of the shared schema; the iOS app runs `coreml` and `executorch`.
public enum Runtime: String, CaseIterable, Sendable {
    case executorch, litert, coreml, fpga

    public static let onIOS: [Runtime] = [.coreml, .executorch]

    public static func parse(_ name: String, field: String) throws -> Runtime {
        guard let r = Runtime(rawValue: name) else {
            throw BenchError.badInput("\(field) '\(name)' is not a runtime (\(allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return r
    }
}

/// A run spec (schemas/run_spec.schema.json, `vitsdk.run_spec/1`), written by `vitsdk bench
/// --device ios` and copied into the app's Documents folder, or made by the app for a manual run.
public struct RunSpec: Equatable, Sendable {
    public static let schemaID = "vitsdk.run_spec/1"

    public var runID: String
    public var bundle: String
    public var outputDir: String?
    public var models: [ModelRun]
    public var benchProtocol: BenchProtocol

    public init(runID: String, bundle: String, outputDir: String? = nil, models: [ModelRun],
                benchProtocol: BenchProtocol) throws {
        guard runID.range(of: "^[A-Za-z0-9._-]{1,80}$", options: .regularExpression) != nil else {
            throw BenchError.badInput("run_id '\(runID)' must be 1-80 of A-Z a-z 0-9 . _ -")
        }
        guard !models.isEmpty else { throw BenchError.badInput("run spec lists no models") }
        self.runID = runID
        self.bundle = bundle
        self.outputDir = outputDir
        self.models = models
        self.benchProtocol = benchProtocol
    }

    public init(json: JSON) throws {
        guard let o = json.objectValue else { throw BenchError.badInput("run spec must be a JSON object") }
        guard let schema = o["schema"]?.stringValue else { throw BenchError.badInput("run spec has no 'schema' field") }
        try checkSchema(schema, expected: RunSpec.schemaID, what: "run spec")
        guard let runID = o["run_id"]?.stringValue else { throw BenchError.badInput("run spec run_id is missing") }
        guard let bundle = o["bundle"]?.stringValue, !bundle.isEmpty else {
            throw BenchError.badInput("run spec bundle is missing")
        }
        guard let items = o["models"]?.arrayValue else { throw BenchError.badInput("run spec models must be a list") }
        let models = try items.enumerated().map { index, item -> ModelRun in
            guard let file = item["file"]?.stringValue, !file.isEmpty else {
                throw BenchError.badInput("run spec models[\(index)].file is missing")
            }
            guard let runtime = item["runtime"]?.stringValue else {
                throw BenchError.badInput("run spec models[\(index)].runtime is missing")
            }
            let threads = item["threads"].flatMap { $0.isNull ? nil : $0.intValue }
            return ModelRun(file: file, runtime: try Runtime.parse(runtime, field: "models[\(index)].runtime"),
                            delegate: item["delegate"]?.stringValue, threads: threads)
        }
        guard let proto = o["protocol"] else { throw BenchError.badInput("run spec protocol is missing") }
        try self.init(runID: runID, bundle: bundle, outputDir: o["output_dir"]?.stringValue, models: models,
                      benchProtocol: try BenchProtocol(json: proto))
    }

    public var json: JSON {
        .object([
            "schema": .string(RunSpec.schemaID),
            "run_id": .string(runID),
            "bundle": .string(bundle),
            "output_dir": .string(outputDir),
            "models": .array(models.map { m in
                .object(["file": .string(m.file), "runtime": .string(m.runtime.rawValue),
                         "delegate": .string(m.delegate), "threads": .int(m.threads)])
            }),
            "protocol": benchProtocol.json,
        ])
    }
}

/// Accepts `name/MAJOR` of the same major version; a newer major version is refused by name,
/// because its fields may mean something else.
func checkSchema(_ found: String, expected: String, what: String) throws {
    guard found != expected else { return }
    let f = found.split(separator: "/", maxSplits: 1).map(String.init)
    let e = expected.split(separator: "/", maxSplits: 1).map(String.init)
    if f.count == 2, f[0] == e[0], let fv = Int(f[1]), let ev = Int(e[1]), fv > ev {
        throw BenchError.badInput("\(what) is \(found), newer than this app reads (\(expected)); update the app")
    }
    throw BenchError.badInput("\(what) schema is '\(found)', expected '\(expected)'")
}
