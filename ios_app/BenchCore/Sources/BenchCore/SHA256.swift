import Foundation
#if canImport(CryptoKit)
import CryptoKit
#endif

/// SHA-256 of manifest and model files, to check the bundle arrived intact. Apple platforms use
/// CryptoKit; elsewhere (Linux CI) a small FIPS 180-4 implementation, checked against known digests.
public struct SHA256 {
    public static func hex(_ data: Data) -> String {
        var h = SHA256()
        h.update(data)
        return h.finalizeHex()
    }

    /// The digest of a folder (an .mlpackage) as `vitsdk export` defines it (converters/bundle.py
    /// `sha256_of`): over its files sorted by relative path (compared part by part, as Python sorts
    /// paths), each as the UTF-8 relative path, a 0 byte, then the 32-byte sha256 of its content.
    public static func hex(folderAt url: URL) throws -> String {
        let root = url.standardizedFileURL.resolvingSymlinksInPath()
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw BenchError.badInput("cannot list \(url.path)")
        }
        var files: [[String]] = []
        for case let item as URL in walker {
            guard (try? item.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            let full = item.standardizedFileURL.resolvingSymlinksInPath().pathComponents
            files.append(Array(full.dropFirst(root.pathComponents.count)))
        }
        files.sort { a, b in
            for (x, y) in zip(a, b) where x != y { return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) }
            return a.count < b.count
        }
        var h = SHA256()
        for parts in files {
            let rel = parts.joined(separator: "/")
            h.update(Data(rel.utf8) + Data([0]))
            h.update(Data(try Self.bytes(fileAt: root.appendingPathComponent(rel))))
        }
        return h.finalizeHex()
    }

    /// Raw 32-byte digest of a file.
    static func bytes(fileAt url: URL) throws -> [UInt8] {
        let hex = try Self.hex(fileAt: url)
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    /// Streams a regular file in 4 MiB chunks (model files can be hundreds of MB).
    public static func hex(fileAt url: URL) throws -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw BenchError.badInput("cannot read \(url.path)")
        }
        defer { try? handle.close() }
        var h = SHA256()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
            h.update(chunk)
        }
        return h.finalizeHex()
    }

#if canImport(CryptoKit)
    private var inner = CryptoKit.SHA256()

    public init() {}

    public mutating func update(_ data: Data) { inner.update(data: data) }

    public mutating func finalizeHex() -> String {
        inner.finalize().map { String(format: "%02x", $0) }.joined()
    }
#else
    private var state: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    public init() {}

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    public mutating func update(_ data: Data) {
        length &+= UInt64(data.count)
        buffer.append(contentsOf: data)
        let whole = buffer.count / 64 * 64
        var offset = 0
        while offset < whole {
            compress(buffer, at: offset)
            offset += 64
        }
        buffer.removeFirst(whole)
    }

    public mutating func finalizeHex() -> String {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        while (buffer.count + tail.count) % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (UInt64(i) * 8))) }
        buffer.append(contentsOf: tail)
        var offset = 0
        while offset < buffer.count {
            compress(buffer, at: offset)
            offset += 64
        }
        buffer.removeAll()
        return state.map { String(format: "%08x", $0) }.joined()
    }

    private mutating func compress(_ bytes: [UInt8], at offset: Int) {
        @inline(__always) func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        var w = [UInt32](repeating: 0, count: 64)
        for i in 0..<16 {
            let j = offset + i * 4
            w[i] = UInt32(bytes[j]) << 24 | UInt32(bytes[j + 1]) << 16 | UInt32(bytes[j + 2]) << 8 | UInt32(bytes[j + 3])
        }
        for i in 16..<64 {
            let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var (a, b, c, d, e, f, g, h) = (state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7])
        for i in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = h &+ s1 &+ ch &+ SHA256.k[i] &+ w[i]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            (h, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
        }
        state[0] &+= a; state[1] &+= b; state[2] &+= c; state[3] &+= d
        state[4] &+= e; state[5] &+= f; state[6] &+= g; state[7] &+= h
    }
#endif
}
