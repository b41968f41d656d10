import Foundation

/// A JSON value. Results files need explicit `null`s for required-but-empty fields (the shared
/// schema requires keys such as `error` even when they are null), which synthesized `Codable`
/// omits; building a `JSON` tree keeps that explicit and the output byte-stable (sorted keys).
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// Member of an object, `nil` when absent or when this is not an object.
    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var isNull: Bool { self == .null }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// Numbers as Double (integers widen); `nil` for anything else.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// Integers, and doubles that hold an exact integer (JSON does not tell 3 from 3.0).
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int(d)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [String: JSON]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// `.double`, or `.null` for nil. Non-finite numbers have no JSON form: they become null.
    public static func number(_ value: Double?) -> JSON {
        guard let value, value.isFinite else { return .null }
        return .double(value)
    }

    public static func string(_ value: String?) -> JSON {
        guard let value else { return .null }
        return .string(value)
    }

    public static func int(_ value: Int?) -> JSON {
        guard let value else { return .null }
        return .int(value)
    }
}

extension JSON: Codable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        if let container = try? decoder.container(keyedBy: Key.self) {
            var members: [String: JSON] = [:]
            for key in container.allKeys {
                members[key.stringValue] = try container.decode(JSON.self, forKey: key)
            }
            self = .object(members)
            return
        }
        if var container = try? decoder.unkeyedContainer() {
            var items: [JSON] = []
            while !container.isAtEnd { items.append(try container.decode(JSON.self)) }
            self = .array(items)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let b = try? single.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? single.decode(Int.self) {
            self = .int(i)
        } else if let d = try? single.decode(Double.self) {
            self = .double(d)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .int(let i):
            var c = encoder.singleValueContainer()
            try c.encode(i)
        case .double(let d):
            var c = encoder.singleValueContainer()
            try c.encode(d)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .object(let members):
            var c = encoder.container(keyedBy: Key.self)
            for (k, v) in members { try c.encode(v, forKey: Key(stringValue: k)) }
        }
    }
}

extension JSON {
    /// Parses JSON text; the error names what was being read.
    public static func parse(_ data: Data, what: String) throws -> JSON {
        do {
            return try JSONDecoder().decode(JSON.self, from: data)
        } catch {
            throw BenchError.badInput("\(what) is not valid JSON (\(error.localizedDescription))")
        }
    }

    public static func read(_ url: URL, what: String) throws -> JSON {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw BenchError.badInput("cannot read \(what) at \(url.path)")
        }
        return try parse(data, what: "\(what) \(url.lastPathComponent)")
    }

    /// Pretty, key-sorted UTF-8 text with a trailing newline.
    public func serialized() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(0x0A)
        return data
    }
}

/// Errors the app shows as one line; `badInput` is the user's file or setting, `failed` is a
/// runtime failure that is recorded in the results (status "failed") rather than crashing.
public enum BenchError: Error, Equatable, CustomStringConvertible {
    case badInput(String)
    case failed(String)

    public var description: String {
        switch self {
        case .badInput(let m), .failed(let m): return m
        }
    }
}
