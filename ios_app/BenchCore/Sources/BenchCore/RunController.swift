import Foundation

/// How the app was started: by hand (no arguments) or by `vitsdk bench --device ios`, which
/// launches it with `--run-spec inbox/RUN_ID.json [--battery-wh 12.7]` (paths relative to the
/// app's Documents folder).
public struct LaunchRequest: Equatable, Sendable {
    public var runSpecPath: String
    public var batteryWh: Double?

    /// nil when the app was started by hand; throws for arguments the driver would never send.
    public static func parse(_ arguments: [String]) throws -> LaunchRequest? {
        var spec: String?
        var battery: Double?
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            func value() throws -> String {
                guard i + 1 < arguments.count else { throw BenchError.badInput("\(a) needs a value") }
                i += 1
                return arguments[i]
            }
            switch a {
            case "--run-spec": spec = try value()
            case "--battery-wh":
                let v = try value()
                guard let wh = Double(v), wh > 0, wh < 200 else {
                    throw BenchError.badInput("--battery-wh \(v) is not a battery capacity in Wh")
                }
                battery = wh
            default: break  // Xcode and the system add their own arguments (-NSDocumentRevisions..., etc.)
            }
            i += 1
        }
        guard let spec else {
            if battery != nil { throw BenchError.badInput("--battery-wh needs --run-spec") }
            return nil
        }
        return LaunchRequest(runSpecPath: spec, batteryWh: battery)
    }
}

/// Runs a whole run spec: checks it against the bundle's manifest before anything runs, measures
/// each model in order (cooldown before each), writes one results file per model as soon as it is
/// done, then `run_complete.json`. The app calls it from a background thread, by hand or headless.
public final class RunController {
    public typealias BackendFactory = (_ file: Manifest.File, _ run: ModelRun, _ bundle: URL, _ manifest: Manifest) throws -> InferenceBackend

    let documents: URL
    let clock: BenchClock
    let probe: DeviceProbe
    let battery: BatteryEnergyEstimator
    let makeBackend: BackendFactory
    let shouldStop: () -> Bool
    let log: (String) -> Void

    public init(documents: URL, clock: BenchClock, probe: DeviceProbe, battery: BatteryEnergyEstimator,
                shouldStop: @escaping () -> Bool = { false }, log: @escaping (String) -> Void = { _ in },
                makeBackend: @escaping BackendFactory) {
        self.documents = documents
        self.clock = clock
        self.probe = probe
        self.battery = battery
        self.makeBackend = makeBackend
        self.shouldStop = shouldStop
        self.log = log
    }

    /// A path from a run spec: absolute, or relative to the app's Documents folder.
    public func resolve(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : documents.appendingPathComponent(path)
    }

    public func readSpec(_ path: String) throws -> RunSpec {
        try RunSpec(json: JSON.read(resolve(path), what: "run spec"))
    }

    /// The folder holding manifest.json: the folder itself or its only sub-folder that has one
    /// (copies by devicectl, AirDrop or Files sometimes add a level).
    public static func locateBundle(_ folder: URL) throws -> URL {
        let fm = FileManager.default
        if fm.fileExists(atPath: folder.appendingPathComponent("manifest.json").path) { return folder }
        let children = (try? fm.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        let found = children.filter { fm.fileExists(atPath: $0.appendingPathComponent("manifest.json").path) }
        guard found.count == 1 else {
            throw BenchError.badInput("\(folder.lastPathComponent) holds \(found.isEmpty ? "no" : "several") bundle(s) with a manifest.json")
        }
        return found[0]
    }

    /// Results files written, in run order; `run_complete.json` is written last.
    @discardableResult
    public func run(_ spec: RunSpec, now: () -> Date = Date.init) throws -> [URL] {
        let bundle = try Self.locateBundle(resolve(spec.bundle))
        let (manifest, manifestSha) = try Manifest.load(bundle: bundle)
        for m in spec.models {
            let file = try manifest.file(m.file)
            guard Runtime.onIOS.contains(m.runtime) else {
                throw BenchError.badInput("\(m.file): runtime \(m.runtime.rawValue) does not run on iOS (coreml, executorch)")
            }
            guard file.runtime == m.runtime else {
                throw BenchError.badInput("\(m.file) is a \(file.runtime.rawValue) file, the run spec asks for \(m.runtime.rawValue)")
            }
            if m.runtime == .coreml { _ = try ComputeUnitsName.mlName(m.delegate) }
        }
        let store = ResultsStore(directory: resolve(spec.outputDir ?? "results/\(spec.runID)"))
        let session = BenchmarkSession(spec: spec, manifest: manifest, manifestSha256: manifestSha, bundle: bundle,
                                       clock: clock, probe: probe, battery: battery, shouldStop: shouldStop, log: log)
        var written: [URL] = []
        var stoppedEarly = false
        for (i, m) in spec.models.enumerated() {
            if shouldStop() {
                stoppedEarly = true
                log("stopped before \(m.file) (\(spec.models.count - i) model run(s) not started)")
                break
            }
            log("[\(i + 1)/\(spec.models.count)] \(m.file) on \(m.runtime.rawValue)\(m.delegate.map { " (\($0))" } ?? "")")
            let doc = try session.run(m, now: now()) { file in try makeBackend(file, m, bundle, manifest) }
            written.append(try store.write(doc, runID: spec.runID, model: m))
            if doc["status"]?.stringValue != "complete" { stoppedEarly = stoppedEarly || shouldStop() }
        }
        _ = try store.writeIndex(runID: spec.runID, files: written, stoppedEarly: stoppedEarly)
        return written
    }
}
