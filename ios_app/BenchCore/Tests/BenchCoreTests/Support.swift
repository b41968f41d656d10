import Foundation
import XCTest
@testable import BenchCore

/// The repository root, found from this file's path (ios_app/BenchCore/Tests/BenchCoreTests/),
/// so the shared vectors in schemas/vectors are read the same way in a checkout, on a Mac and in
/// the Linux chroot (scripts/swift_chroot.sh copies the same layout).
func repoRoot() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

func loadVectors(_ name: String) throws -> (tolerance: Double, cases: [JSON]) {
    let url = repoRoot().appendingPathComponent("schemas/vectors/\(name)")
    guard FileManager.default.fileExists(atPath: url.path) else {
        XCTFail("shared test vectors missing: \(url.path)")
        throw BenchError.badInput("missing \(url.path)")
    }
    let doc = try JSON.read(url, what: name)
    guard let tol = doc["tolerance"]?.doubleValue, let cases = doc["cases"]?.arrayValue, !cases.isEmpty else {
        throw BenchError.badInput("\(name) has no tolerance/cases")
    }
    return (tol, cases)
}

/// Relative comparison as the vectors require (absolute near zero).
func assertClose(_ actual: Double?, _ expected: JSON?, tol: Double, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard let expected, !expected.isNull else {
        XCTAssertNil(actual, "\(what): expected null", file: file, line: line)
        return
    }
    guard let e = expected.doubleValue else { return XCTFail("\(what): expected is not a number", file: file, line: line) }
    guard let a = actual else { return XCTFail("\(what): got nil, expected \(e)", file: file, line: line) }
    XCTAssertLessThanOrEqual(abs(a - e), tol * max(1, abs(e)), "\(what): \(a) != \(e)", file: file, line: line)
}

/// Where JSON the tests write goes: $VITSDK_SWIFT_OUT (the pytest wrapper validates these files
/// against schemas/results.schema.json), else a temporary folder.
func outputDir() -> URL {
    if let env = ProcessInfo.processInfo.environment["VITSDK_SWIFT_OUT"], !env.isEmpty {
        return URL(fileURLWithPath: env)
    }
    return FileManager.default.temporaryDirectory.appendingPathComponent("benchcore-out")
}

/// A clock that only moves when told: inference time is scripted, reading it is free.
final class FakeClock: BenchClock {
    var t = 0.0
    var slept: [Double] = []
    func now() -> Double { t }
    func sleep(seconds: Double) { slept.append(seconds); t += seconds }
}
