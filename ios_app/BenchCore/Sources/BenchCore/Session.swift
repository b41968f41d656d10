import Foundation

/// One model file loaded in one runtime. The app implements it with Core ML (`MLModel`) and
/// ExecuTorch (`Module`) behind `#if canImport(...)`; tests use a scripted stand-in.
public protocol InferenceBackend: AnyObject {
    var runtime: Runtime { get }
    /// Runtime library version, nil when the runtime does not expose one (Core ML).
    var version: String? { get }
    /// The backend actually used: Core ML compute units label, ExecuTorch delegate.
    var delegate: String? { get }
    /// Core ML `MLComputeUnits` name (cpuOnly, cpuAndGPU, cpuAndNeuralEngine, all); nil otherwise.
    var computeUnits: String? { get }
    var threads: Int? { get }

    func load() throws
    /// Runs one inference on the input set by `setInput` (or a zero input).
    func predict() throws
    func setInput(_ input: NDArray) throws
    /// The first output of the last `predict()`, flattened.
    func lastOutput() throws -> [Float]
    /// Runtime-specific facts for results `runtime.extra` (e.g. Core ML compile time).
    var extra: [String: JSON] { get }
}

extension InferenceBackend {
    public var extra: [String: JSON] { [:] }
}

/// What the app reads from the phone: description, thermal state, battery.
public protocol DeviceProbe: AnyObject {
    var device: DeviceInfo { get }
    /// iOS `ProcessInfo.ThermalState`: nominal | fair | serious | critical; nil when unknown.
    func thermalState() -> String?
    func battery(timeS: Double) -> BatteryReading
}

/// The results' `device` object.
public struct DeviceInfo: Equatable, Sendable {
    public var name: String
    public var model: String?
    public var soc: String?
    public var osVersion: String
    public var cpuCores: Int?
    public var memoryBytes: Int?
    public var os: String

    public init(name: String, model: String?, soc: String?, os: String = "ios", osVersion: String,
                cpuCores: Int?, memoryBytes: Int?) {
        self.name = name
        self.model = model
        self.soc = soc
        self.os = os
        self.osVersion = osVersion
        self.cpuCores = cpuCores
        self.memoryBytes = memoryBytes
    }

    public var json: JSON {
        .object(["platform": .string("ios"), "name": .string(name), "manufacturer": .string("Apple"),
                 "model": .string(model), "soc": .string(soc), "os": .string(os), "os_version": .string(osVersion),
                 "api_level": .null, "cpu_cores": .int(cpuCores), "memory_bytes": .int(memoryBytes),
                 "serial": .null])
    }
}

/// Runs the shared protocol for one model file and returns its results document
/// (`vitsdk.results/1`). Every failure ends up in the document (status failed or partial, with
/// the error), so one bad model never stops the others.
public struct BenchmarkSession {
    public static let toolName = "vitsdk-ios"
    public static let toolVersion = "0.1.0"

    public var spec: RunSpec
    public var manifest: Manifest
    public var manifestSha256: String?
    public var bundle: URL
    public var clock: BenchClock
    public var probe: DeviceProbe
    public var battery: BatteryEnergyEstimator
    public var shouldStop: () -> Bool
    /// Progress lines for the UI and the console the driver streams.
    public var log: (String) -> Void

    public init(spec: RunSpec, manifest: Manifest, manifestSha256: String?, bundle: URL, clock: BenchClock,
                probe: DeviceProbe, battery: BatteryEnergyEstimator, shouldStop: @escaping () -> Bool = { false },
                log: @escaping (String) -> Void = { _ in }) {
        self.spec = spec
        self.manifest = manifest
        self.manifestSha256 = manifestSha256
        self.bundle = bundle
        self.clock = clock
        self.probe = probe
        self.battery = battery
        self.shouldStop = shouldStop
        self.log = log
    }

    /// Measures one model; `makeBackend` builds the backend (it may throw: the error is recorded).
    /// Throws only for a model the manifest does not list (a bad run spec, not a device failure).
    public func run(_ model: ModelRun, now: Date = Date(), makeBackend: (Manifest.File) throws -> InferenceBackend) throws -> JSON {
        let p = spec.benchProtocol
        let runner = ProtocolRunner(p, clock: clock, shouldStop: shouldStop)
        var doc = ResultsDocument(runID: spec.runID, created: now, device: probe.device, benchProtocol: p)
        doc.thermalBefore = probe.thermalState()

        let file = try manifest.file(model.file)
        doc.modelJSON = modelJSON(file)
        guard file.runtime == model.runtime else {
            return doc.failed("\(file.path) is a \(file.runtime.rawValue) file, not \(model.runtime.rawValue)",
                              runtime: model.runtime, thermalAfter: probe.thermalState())
        }

        do {
            try BundleCheck.verify(file, bundle: bundle)
        } catch {
            return doc.failed("\(error)", runtime: model.runtime, thermalAfter: probe.thermalState())
        }
        log("\(file.path): cooling down \(p.cooldownSeconds) s")
        runner.coolDown()
        var idleWindow: BatteryWindow?
        if energyAttemptable() && p.idleBaselineSeconds > 0 {
            log("\(file.path): idle baseline \(p.idleBaselineSeconds) s")
            let before = probe.battery(timeS: clock.now())
            clock.sleep(seconds: p.idleBaselineSeconds)
            idleWindow = BatteryWindow(before: before, after: probe.battery(timeS: clock.now()))
        }
        doc.thermalBefore = probe.thermalState()  // the state the measurement starts from

        let backend: InferenceBackend
        do {
            backend = try makeBackend(file)
        } catch {
            return doc.failed("model failed to load: \(error)", runtime: model.runtime, thermalAfter: probe.thermalState())
        }
        var latency = LatencyParts()
        do {
            latency.loadMs = try runner.time { try backend.load() }
        } catch {
            doc.runtimeJSON = runtimeJSON(backend, extra: [:])
            return doc.failed("model failed to load: \(error)", runtime: model.runtime, thermalAfter: probe.thermalState())
        }
        doc.runtimeJSON = runtimeJSON(backend, extra: backend.extra.merging(["file_check": .string("sha256 matches the manifest")]) { a, _ in a })
        if let asked = model.threads, backend.threads != asked {
            log("\(file.path): \(asked) threads asked; \(model.runtime.rawValue) on iOS does not take a thread count (recorded as used)")
        }

        // The reference samples go first (when the bundle has them): the first of them is the
        // timed first inference, all of them are the numerics check.
        var numerics = NumericsCheck.skipped("the bundle has no reference inputs/outputs")
        var batches: [NDArray] = []
        var refOutputs: NDArray?
        if let ref = manifest.reference {
            do {
                let inputs = try NDArray.read(bundle.appendingPathComponent(ref.inputs))
                refOutputs = try NDArray.read(bundle.appendingPathComponent(ref.outputs))
                batches = try Self.batches(inputs, modelShape: manifest.input.shape)
                if batches.isEmpty { numerics = .skipped("reference inputs \(inputs.shape) do not fit the model input \(manifest.input.shape)") }
            } catch {
                numerics = .skipped("reference data unusable: \(error)")
                batches = []
            }
        }
        let activeBefore = probe.battery(timeS: clock.now())
        do {
            if let first = batches.first { try backend.setInput(first) }
            latency.firstMs = try runner.time { try backend.predict() }
            if let refOutputs, !batches.isEmpty {
                var outputs = try backend.lastOutput()
                for batch in batches.dropFirst() {
                    try backend.setInput(batch)
                    try backend.predict()
                    outputs += try backend.lastOutput()
                }
                try backend.setInput(batches[0])
                let rows = batches.count * manifest.input.shape[0]
                numerics = NumericsCheck.compare(output: outputs, reference: refOutputs, rows: rows,
                                                 tolerance: manifest.reference?.tolerance(for: file.precision))
            }
        } catch {
            return doc.failed("first inference failed: \(error)", runtime: model.runtime, thermalAfter: probe.thermalState())
        }
        doc.numerics = numerics

        log("\(file.path): warm-up")
        var stopError: String?
        do {
            let w = try runner.warmUp { try backend.predict() }
            latency.warmupRuns = w.runs
            latency.warmupS = w.seconds
        } catch {
            stopError = "warm-up failed: \(error)"
        }
        var timed = TimedResult(samplesMs: [], durationS: 0, stop: .error, error: stopError)
        if stopError == nil {
            log("\(file.path): timing")
            timed = runner.timed { try backend.predict() }
        }
        let activeAfter = probe.battery(timeS: clock.now())
        doc.thermalAfter = probe.thermalState()

        let stats = LatencyStats(samplesMs: timed.samplesMs, cvMax: p.stabilityCvMax, driftMax: p.stabilityDriftMax)
        doc.latency = latency.json(stats: stats, timed: timed)
        switch timed.stop {
        case .minReached, .maxRuns, .maxSeconds:
            doc.status = "complete"
        case .cancelled:
            doc.status = timed.samplesMs.isEmpty ? "failed" : "partial"
            doc.error = "stopped early after \(timed.samplesMs.count) timed runs (cancelled or app left the foreground)"
        case .error:
            doc.status = timed.samplesMs.isEmpty ? "failed" : "partial"
            doc.error = timed.error ?? stopError
        }
        if doc.status == "failed" { doc.latency = .null }
        // Every inference between the two battery readings: reference samples, warm-up, timed.
        let inferences = max(1, batches.count) + latency.warmupRuns + timed.samplesMs.count
        doc.energy = doc.status == "failed" ? .unavailable("nothing was timed: \(doc.error ?? "run failed")")
            : battery.estimate(active: BatteryWindow(before: activeBefore, after: activeAfter), idle: idleWindow,
                               inferences: inferences)
        log("\(file.path): \(doc.status), median \(stats.medianMs.map { String(format: "%.3f ms", $0) } ?? "-")")
        return doc.json
    }

    /// The idle baseline costs minutes: only spend them when a battery figure can come out.
    func energyAttemptable() -> Bool {
        let r = probe.battery(timeS: clock.now())
        return r.level != nil && r.state == .unplugged && (battery.capacityWh ?? 0) > 0
    }

    /// Reference samples (N, C, H, W) cut into model-sized batches (the graph's batch is static);
    /// empty when their sample shape is not the model's.
    static func batches(_ inputs: NDArray, modelShape: [Int]) throws -> [NDArray] {
        guard let batch = modelShape.first, batch > 0, inputs.shape.count == modelShape.count,
              Array(inputs.shape.dropFirst()) == Array(modelShape.dropFirst()) else { return [] }
        let perSample = modelShape.dropFirst().reduce(1, *)
        let usable = inputs.shape[0] - inputs.shape[0] % batch
        return try stride(from: 0, to: usable, by: batch).map { start in
            try NDArray(shape: modelShape, values: Array(inputs.values[(start * perSample)..<((start + batch) * perSample)]))
        }
    }

    func modelJSON(_ f: Manifest.File) -> JSON {
        .object(["name": .string(manifest.modelName), "file": .string(f.path), "format": .string(f.format),
                 "sha256": .string(f.sha256), "size_bytes": .int(f.sizeBytes), "precision": .string(f.precision),
                 "macs": .int(f.macs), "input_shape": .array(manifest.input.shape.map { .int($0) }),
                 "manifest_sha256": .string(manifestSha256)])
    }

    func runtimeJSON(_ b: InferenceBackend, extra: [String: JSON]) -> JSON {
        .object(["name": .string(b.runtime.rawValue), "version": .string(b.version), "delegate": .string(b.delegate),
                 "threads": .int(b.threads), "compute_units": .string(b.computeUnits), "extra": .object(extra)])
    }
}

struct LatencyParts {
    var loadMs: Double?
    var firstMs: Double?
    var warmupRuns = 0
    var warmupS = 0.0

    func json(stats s: LatencyStats, timed: TimedResult) -> JSON {
        .object([
            "load_ms": .number(loadMs), "first_ms": .number(firstMs), "warmup_runs": .int(warmupRuns),
            "warmup_s": .double(warmupS), "runs": .int(s.runs), "duration_s": .double(timed.durationS),
            "min_ms": .number(s.minMs), "median_ms": .number(s.medianMs), "mean_ms": .number(s.meanMs),
            "p90_ms": .number(s.p90Ms), "p99_ms": .number(s.p99Ms), "max_ms": .number(s.maxMs),
            "std_ms": .number(s.stdMs), "trimmed_mean_ms": .number(s.trimmedMeanMs), "cv": .number(s.cv),
            "stability": .object(["stable": .bool(s.stable), "drift": .number(s.drift),
                                  "cv_max": .double(s.cvMax), "drift_max": .double(s.driftMax)]),
            "samples_ms": .array(timed.samplesMs.map { .double($0) }),
        ])
    }
}

/// A results document being filled in; `json` gives the `vitsdk.results/1` object.
struct ResultsDocument {
    var runID: String
    var created: Date
    var device: DeviceInfo
    var benchProtocol: BenchProtocol
    var status = "failed"
    var error: String?
    var runtimeJSON: JSON = .null
    var modelJSON: JSON = .null
    var latency: JSON = .null
    var energy = EnergyResult.unavailable("nothing was measured")
    var thermalBefore: String?
    var thermalAfter: String?
    var numerics = NumericsCheck.skipped("nothing was run")

    init(runID: String, created: Date, device: DeviceInfo, benchProtocol: BenchProtocol) {
        self.runID = runID
        self.created = created
        self.device = device
        self.benchProtocol = benchProtocol
    }

    func failed(_ message: String, runtime: Runtime, thermalAfter: String?) -> JSON {
        var d = self
        d.status = "failed"
        d.error = message
        d.latency = .null
        d.energy = .unavailable("nothing was measured: \(message)")
        if d.runtimeJSON.isNull {
            d.runtimeJSON = .object(["name": .string(runtime.rawValue), "version": .null, "delegate": .null, "threads": .null])
        }
        if d.numerics.status == "skipped" { d.numerics = .skipped("the model did not run: \(message)") }
        d.thermalAfter = thermalAfter
        return d.json
    }

    static func utc(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'"
        return f.string(from: date)
    }

    var json: JSON {
        .object([
            "schema": .string("vitsdk.results/1"),
            "run_id": .string(runID),
            "created_utc": .string(Self.utc(created)),
            "status": .string(status),
            "error": .string(error),
            "tool": .object(["name": .string(BenchmarkSession.toolName), "version": .string(BenchmarkSession.toolVersion)]),
            "device": device.json,
            "runtime": runtimeJSON,
            "model": modelJSON,
            "protocol": benchProtocol.json,
            "latency": latency,
            "energy": energy.json,
            "thermal": .object(["before": .object(["state": .string(thermalBefore)]),
                                "after": .object(["state": .string(thermalAfter)])]),
            "numerics": numerics.json,
        ])
    }
}
