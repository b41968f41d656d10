import Foundation

/// A bundle's `manifest.json` (`vitsdk.manifest/1`, written by `vitsdk export`): what each model
/// file is, its input and its checksum. The app takes format, runtime, precision and delegate from
/// here, never from file names. Unknown fields are ignored (minor additions within version 1);
/// a newer major version is refused.
public struct Manifest: Equatable, Sendable {
    public static let schemaID = "vitsdk.manifest/1"

    public struct Input: Equatable, Sendable {
        public var shape: [Int]
        public var dtype: String
        public var layout: String?
        public var mean: [Double]
        public var std: [Double]

        public var elementCount: Int { shape.reduce(1, *) }
    }

    public struct File: Equatable, Sendable {
        public var path: String
        public var format: String
        public var runtime: Runtime
        public var precision: String?
        public var delegate: String?
        public var sizeBytes: Int?
        public var sha256: String
        public var macs: Int?
        /// The exporter's own check (free-form; e.g. max |diff| vs PyTorch, or "not executed").
        public var verification: JSON?
    }

    /// Reference inputs/outputs (.npy paths relative to the bundle; N samples, already
    /// preprocessed) for the on-device numerics check, with tolerances of max|diff| / max|ref|.
    public struct Reference: Equatable, Sendable {
        public var inputs: String
        public var outputs: String
        /// fp32 tolerance.
        public var tolerance: Double?
        /// Per precision (fp16, int8, ...).
        public var tolerances: [String: Double]

        public init(inputs: String, outputs: String, tolerance: Double? = nil, tolerances: [String: Double] = [:]) {
            self.inputs = inputs
            self.outputs = outputs
            self.tolerance = tolerance
            self.tolerances = tolerances
        }

        /// The tolerance of max|diff| / max|ref| for a precision: `tolerances[precision]`, else
        /// `tolerance` for fp32, else nil (then top-1 agreement decides).
        public func tolerance(for precision: String?) -> Double? {
            let p = precision ?? "fp32"
            return tolerances[p] ?? (p == "fp32" ? tolerance : nil)
        }
    }

    public var modelName: String?
    public var model: JSON
    public var input: Input
    public var files: [File]
    public var reference: Reference?

    public init(json: JSON) throws {
        guard let o = json.objectValue else { throw BenchError.badInput("manifest.json must be a JSON object") }
        guard let schema = o["schema"]?.stringValue else {
            throw BenchError.badInput("manifest.json has no 'schema' field: not a vitsdk bundle?")
        }
        try checkSchema(schema, expected: Manifest.schemaID, what: "manifest.json")
        model = o["model"] ?? .null
        modelName = model["name"]?.stringValue ?? model.stringValue
        guard let inp = o["input"]?.objectValue else { throw BenchError.badInput("manifest.json input is missing") }
        guard let shape = inp["shape"]?.arrayValue?.compactMap(\.intValue), !shape.isEmpty, shape.allSatisfy({ $0 > 0 })
        else { throw BenchError.badInput("manifest.json input.shape must be a list of positive integers") }
        input = Input(shape: shape,
                      dtype: inp["dtype"]?.stringValue ?? "float32",
                      layout: inp["layout"]?.stringValue,
                      mean: inp["mean"]?.arrayValue?.compactMap(\.doubleValue) ?? [],
                      std: inp["std"]?.arrayValue?.compactMap(\.doubleValue) ?? [])
        guard let items = o["files"]?.arrayValue, !items.isEmpty else {
            throw BenchError.badInput("manifest.json lists no model files")
        }
        files = try items.enumerated().map { i, item in
            func field(_ key: String) throws -> String {
                guard let v = item[key]?.stringValue, !v.isEmpty else {
                    throw BenchError.badInput("manifest.json files[\(i)].\(key) is missing")
                }
                return v
            }
            let path = try field("path")
            guard !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw BenchError.badInput("manifest.json files[\(i)].path '\(path)' leaves the bundle folder")
            }
            let sha = try field("sha256").lowercased()
            guard sha.count == 64, sha.allSatisfy({ $0.isHexDigit }) else {
                throw BenchError.badInput("manifest.json files[\(i)].sha256 is not a sha256 hex digest")
            }
            return File(path: path, format: try field("format"),
                        runtime: try Runtime.parse(try field("runtime"), field: "manifest.json files[\(i)].runtime"),
                        precision: item["precision"]?.stringValue, delegate: item["delegate"]?.stringValue,
                        sizeBytes: item["size_bytes"]?.intValue, sha256: sha, macs: item["macs"]?.intValue,
                        verification: item["verification"])
        }
        reference = try Manifest.reference(o["reference"])
    }

    /// `{inputs, outputs, tolerance, tolerances}` (schemas/manifest.schema.json); nil when absent.
    static func reference(_ json: JSON?) throws -> Reference? {
        guard let json, !json.isNull else { return nil }
        guard let inputs = json["inputs"]?.stringValue, let outputs = json["outputs"]?.stringValue else {
            throw BenchError.badInput("manifest.json reference needs 'inputs' and 'outputs' (.npy paths)")
        }
        for p in [inputs, outputs] where p.hasPrefix("/") || p.split(separator: "/").contains("..") {
            throw BenchError.badInput("manifest.json reference path '\(p)' leaves the bundle folder")
        }
        var tolerances: [String: Double] = [:]
        for (k, v) in json["tolerances"]?.objectValue ?? [:] {
            if let d = v.doubleValue { tolerances[k] = d }
        }
        return Reference(inputs: inputs, outputs: outputs, tolerance: json["tolerance"]?.doubleValue, tolerances: tolerances)
    }

    public static func load(bundle: URL) throws -> (Manifest, sha256: String) {
        let url = bundle.appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw BenchError.badInput("\(bundle.lastPathComponent) has no manifest.json: pick the folder `vitsdk export` wrote")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw BenchError.badInput("cannot read \(url.path)")
        }
        return (try Manifest(json: JSON.parse(data, what: "manifest.json")), SHA256.hex(data))
    }

    /// The files this app can run (Core ML packages and ExecuTorch programs), in manifest order.
    public var iosFiles: [File] { files.filter { Runtime.onIOS.contains($0.runtime) } }

    public func file(_ path: String) throws -> File {
        guard let f = files.first(where: { $0.path == path }) else {
            let options = files.map(\.path)
            throw BenchError.badInput("the bundle has no model file '\(path)'\(suggestion(path, options)) (files: \(options.joined(separator: ", ")))")
        }
        return f
    }
}

/// "; did you mean 'x'?" for the closest option by edit distance, or "".
func suggestion(_ name: String, _ options: [String]) -> String {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var prev = row[0]
            row[0] = i + 1
            for (j, cb) in b.enumerated() {
                let cur = row[j + 1]
                row[j + 1] = min(row[j + 1] + 1, row[j] + 1, prev + (ca == cb ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
    let scored = options.map { ($0, distance(Array(name), Array($0))) }.min { $0.1 < $1.1 }
    guard let (best, d) = scored, d <= max(2, max(name.count, best.count) / 2) else { return "" }
    return "; did you mean '\(best)'?"
}
