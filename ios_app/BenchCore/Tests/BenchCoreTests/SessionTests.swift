import Foundation
import XCTest
@testable import BenchCore

/// Stand-in for a Core ML / ExecuTorch model (no phone here): each inference advances the fake
/// clock by a scripted latency, and it fails the way a runtime does (load error, inference error).
final class ScriptedBackend: InferenceBackend {
    let runtime: Runtime
    let version: String? = "test"
    let delegate: String?
    let computeUnits: String?
    let threads: Int? = nil
    let clock: FakeClock
    var latenciesS: [Double]
    var failLoad = false
    var failAtInference: Int?
    var calls = 0
    var input: NDArray?
    var inputs: [NDArray] = []
    /// The "model": a fixed output, or by default [x0 + 0.1, x1 + 1, -x2] of the input.
    var fixedOutput: [Float]?

    init(runtime: Runtime, delegate: String?, computeUnits: String? = nil, clock: FakeClock,
         latenciesS: [Double], output: [Float]? = nil) {
        self.runtime = runtime
        self.delegate = delegate
        self.computeUnits = computeUnits
        self.clock = clock
        self.latenciesS = latenciesS
        self.fixedOutput = output
    }

    func load() throws {
        clock.t += 0.25
        if failLoad { throw BenchError.failed("Error Domain=com.apple.CoreML Code=0 \"compiled model is invalid\"") }
    }

    func setInput(_ input: NDArray) throws {
        self.input = input
        inputs.append(input)
    }

    func predict() throws {
        calls += 1
        if let k = failAtInference, calls >= k { throw BenchError.failed("Error 0x12 (MemoryAllocationFailed)") }
        clock.t += latenciesS[(calls - 1) % latenciesS.count]
    }

    func lastOutput() throws -> [Float] {
        if let fixedOutput { return fixedOutput }
        let x = input?.values ?? [0, 0, 0]
        return [x[0] + 0.1, x[1] + 1, -x[2]]
    }
}

/// A phone that drains its battery at a set power (W) while running and while idle, and reports
/// the level the way UIDevice does: truncated to whole percent.
final class FakePhone: DeviceProbe {
    let device = DeviceInfo(name: "iPhone (test)", model: "iPhone15,4", soc: "A16", osVersion: "18.1",
                            cpuCores: 6, memoryBytes: 6_000_000_000)
    var capacityJ = 12.0 * 3600
    var levelJ = 0.8 * 12.0 * 3600
    var lastT = 0.0
    var powerW = 1.0
    var state = BatteryReading.State.unplugged
    var levelAvailable = true
    var thermal = ["nominal", "nominal", "fair"]  // at start, after the cooldown, after the run
    var thermalCalls = 0

    func thermalState() -> String? {
        defer { thermalCalls += 1 }
        return thermal[min(thermalCalls, thermal.count - 1)]
    }

    func battery(timeS: Double) -> BatteryReading {
        levelJ -= powerW * (timeS - lastT)
        lastT = timeS
        let level = (levelJ / capacityJ * 100).rounded(.down) / 100
        return BatteryReading(level: levelAvailable ? level : -1, state: state, timeS: timeS)
    }
}

/// A small bundle as `vitsdk export --target ios` writes it: a Core ML package, a .pte (its real
/// sha256 in the manifest), a damaged .pte, and reference input/output .npy files.
func makeBundle(at bundle: URL, pteBytes: Data) throws {
    let fm = FileManager.default
    try fm.createDirectory(at: bundle.appendingPathComponent("model.mlpackage/Data"), withIntermediateDirectories: true)
    try fm.createDirectory(at: bundle.appendingPathComponent("reference"), withIntermediateDirectories: true)
    try pteBytes.write(to: bundle.appendingPathComponent("model_fp32.pte"))
    try Data("program".utf8).write(to: bundle.appendingPathComponent("model.mlpackage/Data/model.mlmodel"))
    try Data("{}".utf8).write(to: bundle.appendingPathComponent("model.mlpackage/Manifest.json"))
    // Three samples; ScriptedBackend's default model maps x to [x0 + 0.1, x1 + 1, -x2].
    try NpyTests.npy(descr: "<f4", shape: [3, 1, 2, 2], body: NpyTests.f32([0, 1, 2, 3, 1, 1, 1, 1, 5, 0, 0, 0]))
        .write(to: bundle.appendingPathComponent("reference/inputs.npy"))
    try NpyTests.npy(descr: "<f4", shape: [3, 3], body: NpyTests.f32([0.1, 2.0, -2.0, 1.1, 2.0, -1.0, 5.1, 1.0, 0.0]))
        .write(to: bundle.appendingPathComponent("reference/outputs.npy"))
    let mlpackageSha = try SHA256.hex(folderAt: bundle.appendingPathComponent("model.mlpackage"))
    let manifest = """
    {"schema": "vitsdk.manifest/1", "model": {"name": "vit_nano_patch4_28"},
     "input": {"shape": [1, 1, 2, 2], "dtype": "float32", "layout": "NCHW", "mean": [0.5], "std": [0.5]},
     "files": [
      {"path": "model.mlpackage", "format": "mlpackage", "runtime": "coreml", "precision": "fp16",
       "size_bytes": 10, "sha256": "\(mlpackageSha)", "macs": 5000},
      {"path": "model_fp32.pte", "format": "pte", "runtime": "executorch", "precision": "fp32", "delegate": "xnnpack",
       "size_bytes": \(pteBytes.count), "sha256": "\(SHA256.hex(pteBytes))", "macs": 5000},
      {"path": "broken.pte", "format": "pte", "runtime": "executorch", "precision": "fp32", "delegate": "xnnpack",
       "size_bytes": 3, "sha256": "\(String(repeating: "0", count: 64))", "macs": 5000}],
     "reference": {"inputs": "reference/inputs.npy", "outputs": "reference/outputs.npy", "tolerance": 0.001,
                   "tolerances": {"fp32": 0.001, "fp16": 0.05}}}
    """
    try Data(manifest.utf8).write(to: bundle.appendingPathComponent("manifest.json"))
    try Data("abc".utf8).write(to: bundle.appendingPathComponent("broken.pte"))
}


final class SessionTests: XCTestCase {
    var bundle: URL!
    let pteBytes = Data("not really a pte, but its sha256 is checked".utf8)

    override func setUpWithError() throws {
        bundle = FileManager.default.temporaryDirectory.appendingPathComponent("benchcore-bundle-\(UUID().uuidString)")
        try makeBundle(at: bundle, pteBytes: pteBytes)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: bundle)
    }

    func session(_ proto: BenchProtocol, clock: FakeClock, phone: FakePhone, capacityWh: Double? = nil,
                 shouldStop: @escaping () -> Bool = { false }) throws -> BenchmarkSession {
        let (manifest, sha) = try Manifest.load(bundle: bundle)
        let spec = try ManualRun.spec(manifest: manifest, bundlePath: bundle.path, runID: "swift-test",
                                      computeUnits: ["cpu_ane"], benchProtocol: proto)
        return BenchmarkSession(spec: spec, manifest: manifest, manifestSha256: sha, bundle: bundle, clock: clock,
                                probe: phone, battery: BatteryEnergyEstimator(capacityWh: capacityWh), shouldStop: shouldStop)
    }

    func save(_ doc: JSON, _ name: String) throws {
        _ = try ResultsStore(directory: outputDir()).write(doc, named: name)
    }

    func testCompleteExecuTorchRun() throws {
        let clock = FakeClock()
        let phone = FakePhone()
        let proto = try BenchProtocol(warmupRuns: 3, warmupSeconds: 0, minRuns: 20, minSeconds: 0.1,
                                      cooldownSeconds: 2, idleBaselineSeconds: 10)
        let s = try session(proto, clock: clock, phone: phone)
        let model = ModelRun(file: "model_fp32.pte", runtime: .executorch, delegate: "xnnpack")
        var backend: ScriptedBackend?
        let doc = try s.run(model, now: Date(timeIntervalSince1970: 1_795_000_000)) { file in
            XCTAssertEqual(file.path, "model_fp32.pte")
            backend = ScriptedBackend(runtime: .executorch, delegate: "xnnpack", clock: clock,
                                      latenciesS: [0.010, 0.011, 0.009, 0.010])
            return backend!
        }
        XCTAssertEqual(doc["schema"], .string("vitsdk.results/1"))
        XCTAssertEqual(doc["status"], .string("complete"))
        XCTAssertEqual(doc["error"], .null)
        XCTAssertEqual(doc["created_utc"], .string("2026-11-18T11:06:40Z"))
        XCTAssertEqual(clock.slept, [2], "cooldown only: no idle baseline without a battery capacity")
        XCTAssertEqual(backend?.inputs.map(\.values), [[0, 1, 2, 3], [1, 1, 1, 1], [5, 0, 0, 0], [0, 1, 2, 3]],
                       "each reference sample runs once, then the first is what is timed")
        let lat = try XCTUnwrap(doc["latency"])
        XCTAssertEqual(lat["runs"]?.intValue, 20)
        XCTAssertEqual(lat["warmup_runs"]?.intValue, 3)
        XCTAssertEqual(lat["load_ms"]!.doubleValue!, 250, accuracy: 1e-6)
        XCTAssertEqual(lat["first_ms"]!.doubleValue!, 10, accuracy: 1e-6)
        XCTAssertEqual(backend?.calls, 1 + 2 + 3 + 20, "first + 2 more reference samples + warm-up + timed")
        XCTAssertEqual(lat["min_ms"]!.doubleValue!, 9, accuracy: 1e-6)
        XCTAssertEqual(lat["median_ms"]!.doubleValue!, 10, accuracy: 1e-6)
        XCTAssertEqual(lat["samples_ms"]?.arrayValue?.count, 20)
        XCTAssertEqual(doc["numerics"]?["status"], .string("pass"))
        XCTAssertEqual(doc["numerics"]?["top1_agree"]?.doubleValue, 1)
        XCTAssertEqual(doc["numerics"]?["tolerance"], .double(0.001), "the manifest's tolerance for fp32")
        XCTAssertEqual(doc["numerics"]?["metric"], .string("max_abs_diff / max_abs_ref"))
        XCTAssertEqual(doc["energy"]?["status"], .string("unavailable"))
        XCTAssertTrue(doc["energy"]!["reason"]!.stringValue!.contains("battery capacity"))
        XCTAssertEqual(doc["thermal"]?["before"]?["state"], .string("nominal"))
        XCTAssertEqual(doc["thermal"]?["after"]?["state"], .string("fair"))
        XCTAssertEqual(doc["device"]?["platform"], .string("ios"))
        XCTAssertEqual(doc["model"]?["sha256"], .string(SHA256.hex(pteBytes)))
        XCTAssertEqual(doc["runtime"]?["extra"]?["file_check"], .string("sha256 matches the manifest"))
        try save(doc, "ios_executorch_complete.json")
    }

    /// A long unplugged run with a capacity entered, on a phone that draws the same power idle and
    /// running: the battery-level figure cannot tell its net energy from zero, so it is no figure
    /// (unavailable, saying why), never a `measured` number within its own noise.
    func testBatteryLevelEnergyWithinItsNoiseIsNotMeasured() throws {
        let clock = FakeClock()
        let phone = FakePhone()
        let proto = try BenchProtocol(warmupRuns: 0, warmupSeconds: 0, minRuns: 1, minSeconds: 1800,
                                      cooldownSeconds: 0, idleBaselineSeconds: 1800)
        let s = try session(proto, clock: clock, phone: phone, capacityWh: 12)
        let model = ModelRun(file: "model.mlpackage", runtime: .coreml, delegate: "cpu_ane")
        // The phone draws 1 W whether idle or running here: the net figure must come out near 0.
        let doc = try s.run(model) { _ in
            ScriptedBackend(runtime: .coreml, delegate: "cpu_ane", computeUnits: "cpuAndNeuralEngine",
                            clock: clock, latenciesS: [0.5])
        }
        let runs = doc["latency"]?["runs"]?.intValue ?? 0
        XCTAssertEqual(clock.slept, [0, 1800])
        let e = try XCTUnwrap(doc["energy"])
        XCTAssertEqual(e["status"], .string("unavailable"), "\(e)")
        XCTAssertEqual(e["method"], .string("none"))
        XCTAssertNil(e["energy_mj"]?.doubleValue, "no number for a figure within its noise")
        XCTAssertTrue(e["reason"]!.stringValue!.hasPrefix("not resolved: "), "\(e)")
        XCTAssertEqual(runs, 3600)
        try save(doc, "ios_coreml_battery_unresolved.json")
    }

    func testBatteryEstimatorFindsTheNetPower() throws {
        // 12 Wh battery, 1800 s idle at 1 W then 1800 s at 3 W, 3600 inferences: 2 W x 0.5 s = 1000 mJ each.
        let phone = FakePhone()
        let i0 = phone.battery(timeS: 0)
        let i1 = phone.battery(timeS: 1800)
        phone.powerW = 3
        let a0 = phone.battery(timeS: 1800)
        let a1 = phone.battery(timeS: 3600)
        let e = BatteryEnergyEstimator(capacityWh: 12).estimate(
            active: BatteryWindow(before: a0, after: a1), idle: BatteryWindow(before: i0, after: i1), inferences: 3600)
        XCTAssertEqual(e.status, "measured")
        let mj = try XCTUnwrap(e.energyMj), unc = try XCTUnwrap(e.uncertaintyMj)
        XCTAssertLessThanOrEqual(abs(mj - 1000), 2 * unc, "\(mj) +- \(unc) should contain 1000 mJ")
        XCTAssertLessThan(unc, 400, "a 30 min run at 1% steps resolves 2 W to better than 40%")
        XCTAssertEqual(e.modelParameters?["level_step"], .double(0.01))
        XCTAssertTrue(e.reason!.hasPrefix("coarse: whole-phone"), e.reason!)
    }

    func testBatteryEstimatorSaysWhyNot() {
        let r = { (level: Double, t: Double, state: BatteryReading.State) in BatteryReading(level: level, state: state, timeS: t) }
        let idle = BatteryWindow(before: r(0.80, 0, .unplugged), after: r(0.79, 1800, .unplugged))
        let est = BatteryEnergyEstimator(capacityWh: 12)
        func reason(_ e: EnergyResult) -> String {
            XCTAssertEqual(e.status, "unavailable")
            XCTAssertEqual(e.method, "none")
            XCTAssertNil(e.energyMj)
            return e.reason ?? ""
        }
        XCTAssertTrue(reason(est.estimate(active: BatteryWindow(before: r(0.8, 0, .charging), after: r(0.7, 10, .charging)),
                                          idle: idle, inferences: 10)).contains("plugged in"))
        XCTAssertTrue(reason(est.estimate(active: BatteryWindow(before: r(-1, 0, .unknown), after: r(-1, 10, .unknown)),
                                          idle: idle, inferences: 10)).contains("not available"))
        XCTAssertTrue(reason(est.estimate(active: BatteryWindow(before: r(0.80, 0, .unplugged), after: r(0.79, 60, .unplugged)),
                                          idle: idle, inferences: 10)).contains("too coarse"))
        XCTAssertTrue(reason(BatteryEnergyEstimator(capacityWh: nil).estimate(
            active: BatteryWindow(before: r(0.80, 0, .unplugged), after: r(0.70, 60, .unplugged)), idle: idle,
            inferences: 10)).contains("battery capacity"))
        XCTAssertTrue(reason(est.estimate(active: BatteryWindow(before: r(0.80, 0, .unplugged), after: r(0.60, 60, .unplugged)),
                                          idle: nil, inferences: 10)).contains("no idle baseline"))
        XCTAssertEqual(BatteryEnergyEstimator.levelStep([r(0.80, 0, .unplugged), r(0.75, 1, .unplugged)]), 0.05)
        XCTAssertEqual(BatteryEnergyEstimator.levelStep([r(0.80, 0, .unplugged), r(0.79, 1, .unplugged)]), 0.01)
    }

    func testFailuresAreRecordedNotThrown() throws {
        let proto = try BenchProtocol(warmupRuns: 1, warmupSeconds: 0, minRuns: 10, minSeconds: 0, cooldownSeconds: 0)
        // Load error.
        do {
            let clock = FakeClock()
            let doc = try session(proto, clock: clock, phone: FakePhone()).run(ModelRun(file: "model.mlpackage", runtime: .coreml, delegate: "all")) { _ in
                let b = ScriptedBackend(runtime: .coreml, delegate: "all", computeUnits: "all", clock: clock, latenciesS: [0.01], output: [])
                b.failLoad = true
                return b
            }
            XCTAssertEqual(doc["status"], .string("failed"))
            XCTAssertEqual(doc["latency"], .null)
            XCTAssertTrue(doc["error"]!.stringValue!.contains("compiled model is invalid"))
            XCTAssertEqual(doc["energy"]?["status"], .string("unavailable"))
            try save(doc, "ios_coreml_load_failed.json")
        }
        // Inference error after some timed runs: partial, with what was measured.
        do {
            let clock = FakeClock()
            let doc = try session(proto, clock: clock, phone: FakePhone()).run(ModelRun(file: "model_fp32.pte", runtime: .executorch)) { _ in
                let b = ScriptedBackend(runtime: .executorch, delegate: "xnnpack", clock: clock, latenciesS: [0.01])
                b.failAtInference = 10  // 3 reference samples + 1 warm-up + 5 timed, then the 10th call fails
                return b
            }
            XCTAssertEqual(doc["status"], .string("partial"))
            XCTAssertEqual(doc["latency"]?["runs"]?.intValue, 5)
            XCTAssertTrue(doc["error"]!.stringValue!.contains("inference 6 failed"))
            try save(doc, "ios_executorch_partial.json")
        }
        // Damaged file: the sha256 check fails before loading.
        do {
            let doc = try session(proto, clock: FakeClock(), phone: FakePhone()).run(ModelRun(file: "broken.pte", runtime: .executorch)) { _ in
                XCTFail("a damaged file must not be loaded")
                throw BenchError.failed("unreachable")
            }
            XCTAssertEqual(doc["status"], .string("failed"))
            XCTAssertTrue(doc["error"]!.stringValue!.contains("does not match the manifest"))
            try save(doc, "ios_executorch_sha_mismatch.json")
        }
        // Asked for the wrong runtime.
        do {
            let doc = try session(proto, clock: FakeClock(), phone: FakePhone()).run(ModelRun(file: "model_fp32.pte", runtime: .coreml)) { _ in
                throw BenchError.failed("unreachable")
            }
            XCTAssertTrue(doc["error"]!.stringValue!.contains("is a executorch file, not coreml"))
        }
        // A file the manifest does not list is the run spec's mistake: thrown, not recorded.
        XCTAssertThrowsError(try session(proto, clock: FakeClock(), phone: FakePhone())
            .run(ModelRun(file: "nope.pte", runtime: .executorch)) { _ in throw BenchError.failed("unreachable") })
    }

    func testCancelKeepsWhatWasMeasured() throws {
        let clock = FakeClock()
        var stop = false
        let proto = try BenchProtocol(warmupRuns: 0, warmupSeconds: 0, minRuns: 100, minSeconds: 0, cooldownSeconds: 0)
        let s = try session(proto, clock: clock, phone: FakePhone(), shouldStop: { stop })
        let doc = try s.run(ModelRun(file: "model.mlpackage", runtime: .coreml, delegate: "cpu")) { _ in
            let b = ScriptedBackend(runtime: .coreml, delegate: "cpu", computeUnits: "cpuOnly", clock: clock, latenciesS: [0.02], output: [9, 9, 9])
            return b
        }
        XCTAssertEqual(doc["status"], .string("complete"))
        XCTAssertEqual(doc["numerics"]?["status"], .string("fail"), "a wrong output fails the numerics check")
        try save(doc, "ios_coreml_numerics_fail.json")
        var calls = 0
        let doc2 = try s.run(ModelRun(file: "model.mlpackage", runtime: .coreml, delegate: "cpu")) { _ in
            let b = ScriptedBackend(runtime: .coreml, delegate: "cpu", computeUnits: "cpuOnly", clock: clock, latenciesS: [0.02])
            return CountingBackend(b) { calls += 1; if calls == 30 { stop = true } }
        }
        XCTAssertEqual(doc2["status"], .string("partial"))
        XCTAssertEqual(doc2["latency"]?["runs"]?.intValue, 27, "30 calls: 3 reference samples, then 27 timed")
        try save(doc2, "ios_coreml_cancelled.json")
    }

    func testResultsStoreWritesAtomicallyWithIndex() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("benchcore-store-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = ResultsStore(directory: dir)
        let model = ModelRun(file: "sub/model fp16.mlpackage", runtime: .coreml, delegate: "cpu_ane")
        XCTAssertEqual(ResultsStore.fileName(runID: "r1", model: model), "r1__sub_model_fp16.mlpackage__coreml-cpu_ane.json")
        let url = try store.write(.object(["a": .int(1), "b": .null]), runID: "r1", model: model)
        let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        XCTAssertTrue(text.contains("\"b\" : null"), text)
        let index = try store.writeIndex(runID: "r1", files: [url], stoppedEarly: false)
        XCTAssertEqual(try JSON.read(index, what: "index")["results"], .array([.string(url.lastPathComponent)]))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasSuffix(".json") }
        XCTAssertEqual(leftovers, [], "no temporary files left behind")
    }

    func testComputeUnitNames() throws {
        XCTAssertEqual(try ComputeUnitsName.mlName("cpu_ane"), "cpuAndNeuralEngine")
        XCTAssertEqual(try ComputeUnitsName.mlName(nil), "all")
        XCTAssertThrowsError(try ComputeUnitsName.mlName("cpu_an")) { XCTAssertTrue("\($0)".contains("did you mean 'cpu_ane'")) }
    }
}

/// Wraps a backend to run a hook on every inference (used to cancel mid-run).
final class CountingBackend: InferenceBackend {
    let inner: ScriptedBackend
    let hook: () -> Void
    init(_ inner: ScriptedBackend, hook: @escaping () -> Void) { self.inner = inner; self.hook = hook }
    var runtime: Runtime { inner.runtime }
    var version: String? { inner.version }
    var delegate: String? { inner.delegate }
    var computeUnits: String? { inner.computeUnits }
    var threads: Int? { inner.threads }
    func load() throws { try inner.load() }
    func setInput(_ input: NDArray) throws { try inner.setInput(input) }
    func predict() throws { hook(); try inner.predict() }
    func lastOutput() throws -> [Float] { try inner.lastOutput() }
}
