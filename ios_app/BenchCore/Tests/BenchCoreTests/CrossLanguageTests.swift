import Foundation
import XCTest
@testable import BenchCore

/// Files made by Python (numpy's .npy writer, the exporter's sha256 of files and .mlpackage
/// folders): tests/test_ios_swift.py writes them, with what numpy read back, into
/// $VITSDK_PY_FIXTURE. Run by hand (Xcode, plain `swift test`) there is no fixture and this test
/// skips; the pytest wrapper checks that it ran and passed.
final class CrossLanguageTests: XCTestCase {
    func testReadsPythonMadeBundle() throws {
        guard let path = ProcessInfo.processInfo.environment["VITSDK_PY_FIXTURE"], !path.isEmpty else {
            throw XCTSkip("no Python-made fixture: run tests/test_ios_swift.py")
        }
        let bundle = URL(fileURLWithPath: path)
        let expected = try JSON.read(bundle.appendingPathComponent("expected.json"), what: "expected.json")
        let (manifest, sha) = try Manifest.load(bundle: bundle)
        XCTAssertEqual(sha, expected["manifest_sha256"]?.stringValue)
        XCTAssertEqual(manifest.files.map(\.path), ["model.mlpackage", "model_fp32.pte"])
        for file in manifest.files {
            XCTAssertNoThrow(try BundleCheck.verify(file, bundle: bundle), "\(file.path): the exporter's sha256")
        }
        // A changed byte anywhere in the package is caught.
        let inner = bundle.appendingPathComponent("model.mlpackage/Data/a.b")
        try Data("changed".utf8).write(to: inner)
        XCTAssertThrowsError(try BundleCheck.verify(manifest.files[0], bundle: bundle)) {
            XCTAssertTrue("\($0)".contains("does not match the manifest"))
        }
        for name in ["inputs", "outputs", "labels", "doubles", "device"] {
            let a = try NDArray.read(bundle.appendingPathComponent("reference/\(name).npy"))
            XCTAssertEqual(a.shape, expected[name]?["shape"]?.arrayValue?.compactMap(\.intValue), name)
            let want = try XCTUnwrap(expected[name]?["values"]?.arrayValue?.compactMap(\.doubleValue))
            XCTAssertEqual(a.values.count, want.count, name)
            for (x, y) in zip(a.values, want) { XCTAssertEqual(Double(x), y, accuracy: 1e-6 * max(1, abs(y)), name) }
        }
        // The numerics rule, against numpy's reading of it.
        let device = try NDArray.read(bundle.appendingPathComponent("reference/device.npy"))
        let outputs = try NDArray.read(bundle.appendingPathComponent("reference/outputs.npy"))
        let n = try XCTUnwrap(expected["numerics"])
        for tol in [1e-3, 1e-2] {
            let check = NumericsCheck.compare(output: device.values, reference: outputs, rows: 3, tolerance: tol)
            XCTAssertEqual(check.status, n["status_at_\(tol == 1e-3 ? "1e-3" : "1e-2")"]?.stringValue)
            XCTAssertEqual(check.relDiff!, n["rel_diff"]!.doubleValue!, accuracy: 1e-6)
            XCTAssertEqual(check.top1Agree, n["top1_agree"]?.doubleValue)
        }
    }
}
