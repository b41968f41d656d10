import Foundation

/// An n-dimensional array read from a NumPy `.npy` file (format 1.0-3.0, C order, little-endian
/// float32/float64/int64/int32/uint8), or from JSON `{"shape": [...], "data": [...]}`. The bundle's
/// reference inputs and outputs come in one of these; everything becomes Float for comparison.
public struct NDArray: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) throws {
        guard shape.reduce(1, *) == values.count else {
            throw BenchError.badInput("array of shape \(shape) cannot hold \(values.count) values")
        }
        self.shape = shape
        self.values = values
    }

    public static func read(_ url: URL) throws -> NDArray {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw BenchError.badInput("cannot read \(url.path)") }
        if url.pathExtension.lowercased() == "json" {
            let json = try JSON.parse(data, what: url.lastPathComponent)
            guard let shape = json["shape"]?.arrayValue?.compactMap(\.intValue),
                  let values = json["data"]?.arrayValue?.compactMap(\.doubleValue)
            else { throw BenchError.badInput("\(url.lastPathComponent) needs 'shape' and 'data' lists") }
            return try NDArray(shape: shape, values: values.map(Float.init))
        }
        return try parseNpy(data, name: url.lastPathComponent)
    }

    public static func parseNpy(_ data: Data, name: String) throws -> NDArray {
        let bytes = [UInt8](data)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw BenchError.badInput("\(name) is not a .npy file")
        }
        let major = bytes[6]
        let headerLen: Int
        let start: Int
        if major == 1 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else {
            guard bytes.count >= 12 else { throw BenchError.badInput("\(name): truncated .npy header") }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        }
        guard bytes.count >= start + headerLen,
              let header = String(bytes: bytes[start..<(start + headerLen)], encoding: .utf8)
        else { throw BenchError.badInput("\(name): truncated .npy header") }
        func value(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrRaw = value("descr"), let q1 = descrRaw.firstIndex(of: "'"),
              let q2 = descrRaw[descrRaw.index(after: q1)...].firstIndex(of: "'")
        else { throw BenchError.badInput("\(name): .npy header has no dtype") }
        let descr = String(descrRaw[descrRaw.index(after: q1)..<q2])
        if let fortran = value("fortran_order"), fortran.hasPrefix("True") {
            throw BenchError.badInput("\(name): Fortran-order arrays are not supported; save with np.ascontiguousarray")
        }
        guard let shapeRaw = value("shape"), let open = shapeRaw.firstIndex(of: "("),
              let close = shapeRaw.firstIndex(of: ")")
        else { throw BenchError.badInput("\(name): .npy header has no shape") }
        let shape = shapeRaw[shapeRaw.index(after: open)..<close]
            .split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let body = Array(bytes[(start + headerLen)...])
        let width: Int
        let convert: (ArraySlice<UInt8>) -> Float
        func le(_ b: ArraySlice<UInt8>) -> UInt64 {
            b.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (UInt64($1.offset) * 8) }
        }
        switch descr {
        case "<f4": width = 4; convert = { Float(bitPattern: UInt32(le($0))) }
        case "<f8": width = 8; convert = { Float(Double(bitPattern: le($0))) }
        case "<i8": width = 8; convert = { Float(Int64(bitPattern: le($0))) }
        case "<i4": width = 4; convert = { Float(Int32(bitPattern: UInt32(le($0)))) }
        case "|u1": width = 1; convert = { Float($0.first!) }
        default:
            throw BenchError.badInput("\(name): dtype '\(descr)' is not supported (float32/64, int32/64, uint8)")
        }
        guard body.count >= count * width else {
            throw BenchError.badInput("\(name): truncated .npy data (\(body.count) bytes for \(count) x \(width))")
        }
        var values = [Float]()
        values.reserveCapacity(count)
        for i in 0..<count {
            values.append(convert(body[(i * width)..<((i + 1) * width)]))
        }
        return try NDArray(shape: shape, values: values)
    }
}

/// The device's outputs on the bundle's reference inputs against the reference outputs (results
/// `numerics`), by the rule in schemas/README.md shared with the host runner and the Android app:
/// rel_diff = max |out - ref| / max |ref| must be at most the manifest's tolerance for the file's
/// precision (`metric` "max_abs_diff / max_abs_ref"); without one, top-1 agreement >= 0.9
/// (`metric` "top1_agree").
public struct NumericsCheck: Equatable, Sendable {
    public var status: String
    public var reason: String?
    public var metric: String?
    public var maxAbsDiff: Double?
    public var relDiff: Double?
    public var tolerance: Double?
    public var top1Agree: Double?

    public static let relMetric = "max_abs_diff / max_abs_ref"
    public static let int8Top1Min = 0.9

    public init(status: String, reason: String? = nil, metric: String? = nil, maxAbsDiff: Double? = nil,
                relDiff: Double? = nil, tolerance: Double? = nil, top1Agree: Double? = nil) {
        self.status = status
        self.reason = reason
        self.metric = metric
        self.maxAbsDiff = maxAbsDiff
        self.relDiff = relDiff
        self.tolerance = tolerance
        self.top1Agree = top1Agree
    }

    public static func skipped(_ reason: String) -> NumericsCheck {
        NumericsCheck(status: "skipped", reason: reason)
    }

    /// `output`: the device's outputs for the first `rows` reference samples, concatenated;
    /// `tolerance`: the manifest's for the file's precision (`Manifest.Reference.tolerance(for:)`).
    public static func compare(output: [Float], reference: NDArray, rows: Int, tolerance: Double?) -> NumericsCheck {
        let n = reference.shape.first ?? 0
        guard n > 0, rows > 0, rows <= n else {
            return .skipped("no reference samples to compare")
        }
        let perRow = reference.values.count / n
        let want = Array(reference.values.prefix(rows * perRow))
        guard output.count == want.count else {
            return NumericsCheck(status: "fail", reason: "output has \(output.count) values, the reference \(want.count) for \(rows) sample(s)")
        }
        var maxDiff = 0.0
        var maxRef = 0.0
        for (a, b) in zip(output, want) {
            let d = Double(abs(a - b))
            maxDiff = d.isNaN ? .infinity : max(maxDiff, d)
            maxRef = max(maxRef, Double(abs(b)))
        }
        var agree = 0
        for r in 0..<rows {
            let range = (r * perRow)..<((r + 1) * perRow)
            if argmax(output[range]) == argmax(want[range]) { agree += 1 }
        }
        let top1 = Double(agree) / Double(rows)
        let rel = maxDiff / max(maxRef, 1e-12)
        let finiteDiff = maxDiff.isFinite ? maxDiff : nil
        let finiteRel = rel.isFinite ? rel : nil
        if let tolerance {
            let pass = rel <= tolerance
            return NumericsCheck(status: pass ? "pass" : "fail",
                                 reason: pass ? nil : "max |diff| / max |ref| = \(String(format: "%.3g", rel)) > \(String(format: "%.3g", tolerance))",
                                 metric: relMetric, maxAbsDiff: finiteDiff, relDiff: finiteRel, tolerance: tolerance, top1Agree: top1)
        }
        let pass = top1 >= int8Top1Min
        return NumericsCheck(status: pass ? "pass" : "fail",
                             reason: pass ? nil : "top-1 agreement \(String(format: "%.2f", top1)) < \(int8Top1Min)",
                             metric: "top1_agree", maxAbsDiff: finiteDiff, relDiff: finiteRel, tolerance: nil, top1Agree: top1)
    }

    static func argmax(_ v: ArraySlice<Float>) -> Int {
        var best = v.startIndex
        for i in v.indices where v[i] > v[best] { best = i }
        return best - v.startIndex
    }

    public var json: JSON {
        .object(["status": .string(status), "reason": .string(reason), "metric": .string(metric),
                 "max_abs_diff": .number(maxAbsDiff), "rel_diff": .number(relDiff), "tolerance": .number(tolerance),
                 "top1_agree": .number(top1Agree)])
    }
}
