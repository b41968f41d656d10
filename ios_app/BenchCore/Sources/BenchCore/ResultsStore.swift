import Foundation

/// Where results go and how: one JSON file per model run, written atomically (temp file, then
/// rename), and a `run_complete.json` index written last, which the Mac driver waits for.
public struct ResultsStore {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    /// `RUNID__model_fp32.pte__executorch-xnnpack.json`: readable, unique per run and model run.
    public static func fileName(runID: String, model: ModelRun) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        func clean(_ s: String) -> String { String(s.map { allowed.contains($0) ? $0 : "_" }) }
        let backend = model.runtime.rawValue + (model.delegate.map { "-" + $0 } ?? "")
        return "\(clean(runID))__\(clean(model.file))__\(clean(backend)).json"
    }

    public func write(_ doc: JSON, named name: String) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try doc.serialized().write(to: url, options: .atomic)
        return url
    }

    public func write(_ doc: JSON, runID: String, model: ModelRun) throws -> URL {
        try write(doc, named: Self.fileName(runID: runID, model: model))
    }

    public static let indexName = "run_complete.json"

    /// The index: the run id, the results files in order, and whether every model ran.
    public func writeIndex(runID: String, files: [URL], stoppedEarly: Bool) throws -> URL {
        let doc = JSON.object([
            "schema": .string("vitsdk.ios_run_index/1"),
            "run_id": .string(runID),
            "results": .array(files.map { .string($0.lastPathComponent) }),
            "stopped_early": .bool(stoppedEarly),
        ])
        return try write(doc, named: Self.indexName)
    }
}

/// Checks a model file (or .mlpackage folder) against the manifest's sha256 before it is loaded,
/// so a bundle damaged or changed in transfer fails with a clear message instead of odd numbers.
public enum BundleCheck {
    public static func verify(_ file: Manifest.File, bundle: URL) throws {
        let url = bundle.appendingPathComponent(file.path)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw BenchError.failed("\(file.path) is listed in manifest.json but missing from the bundle")
        }
        let actual = isDir.boolValue ? try SHA256.hex(folderAt: url) : try SHA256.hex(fileAt: url)
        guard actual == file.sha256 else {
            throw BenchError.failed("\(file.path): sha256 \(actual) does not match the manifest's \(file.sha256) (bundle damaged or changed)")
        }
    }
}

/// A run made in the app by hand: every iOS model of the bundle, Core ML once per chosen compute
/// units, with the default protocol.
public enum ManualRun {
    public static let computeUnitChoices = ["cpu", "cpu_gpu", "cpu_ane", "all"]

    public static func spec(manifest: Manifest, bundlePath: String, runID: String, computeUnits: [String],
                            benchProtocol: BenchProtocol) throws -> RunSpec {
        var models: [ModelRun] = []
        for f in manifest.iosFiles {
            switch f.runtime {
            case .coreml:
                for cu in computeUnits { models.append(ModelRun(file: f.path, runtime: .coreml, delegate: cu)) }
            default:
                models.append(ModelRun(file: f.path, runtime: f.runtime, delegate: f.delegate))
            }
        }
        guard !models.isEmpty else {
            throw BenchError.badInput("the bundle has no Core ML or ExecuTorch files (export with --target ios)")
        }
        return try RunSpec(runID: runID, bundle: bundlePath, models: models, benchProtocol: benchProtocol)
    }

    /// `ios-20261125T091500Z`: sortable and valid as a run id.
    public static func runID(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "ios-" + f.string(from: date)
    }
}

/// Core ML compute units by their run-spec name (`delegate` of a coreml model run).
public enum ComputeUnitsName {
    /// Run-spec name -> `MLComputeUnits` case name.
    public static func mlName(_ name: String?) throws -> String {
        switch name ?? "all" {
        case "cpu", "cpuOnly": return "cpuOnly"
        case "cpu_gpu", "gpu", "cpuAndGPU": return "cpuAndGPU"
        case "cpu_ane", "ane", "cpuAndNeuralEngine": return "cpuAndNeuralEngine"
        case "all": return "all"
        case let other:
            throw BenchError.badInput("Core ML compute units '\(other)' unknown\(suggestion(other, ManualRun.computeUnitChoices)) (\(ManualRun.computeUnitChoices.joined(separator: ", ")))")
        }
    }
}
