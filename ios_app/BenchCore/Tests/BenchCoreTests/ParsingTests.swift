import Foundation
import XCTest
@testable import BenchCore

func parse(_ text: String) throws -> JSON {
    try JSON.parse(Data(text.utf8), what: "test")
}

let protocolText = """
{"warmup_runs": 2, "warmup_seconds": 0.5, "min_runs": 5, "min_seconds": 1, "max_runs": null,
 "max_seconds": 30, "cooldown_seconds": 3, "power_sample_period_ms": 100}
"""

final class RunSpecTests: XCTestCase {
    func testReadsSpecAndFillsDefaults() throws {
        let spec = try RunSpec(json: parse("""
        {"schema": "vitsdk.run_spec/1", "run_id": "r1", "bundle": "bundles/demo", "output_dir": null,
         "models": [{"file": "model.mlpackage", "runtime": "coreml", "delegate": "cpu_ane"},
                    {"file": "model_fp32.pte", "runtime": "executorch", "delegate": null, "threads": 4}],
         "protocol": \(protocolText)}
        """))
        XCTAssertEqual(spec.runID, "r1")
        XCTAssertEqual(spec.models.map(\.runtime), [.coreml, .executorch])
        XCTAssertEqual(spec.models[1].threads, 4)
        XCTAssertEqual(spec.benchProtocol.maxSeconds, 30)
        XCTAssertNil(spec.benchProtocol.maxRuns)
        XCTAssertEqual(spec.benchProtocol.idleBaselineSeconds, 10)
        XCTAssertEqual(spec.benchProtocol.stabilityCvMax, 0.1)
        XCTAssertTrue(spec.benchProtocol.requireUnplugged)
        // Round trip through the app's own writer.
        XCTAssertEqual(try RunSpec(json: spec.json), spec)
    }

    func testRejectsBadSpecsWithTheFieldName() throws {
        let cases: [(String, String)] = [
            (#"{"schema": "vitsdk.run_spec/2", "run_id": "r", "bundle": "b", "models": [], "protocol": {}}"#, "newer than this app reads"),
            (#"{"schema": "other/1", "run_id": "r", "bundle": "b", "models": [], "protocol": {}}"#, "expected 'vitsdk.run_spec/1'"),
            (#"{"schema": "vitsdk.run_spec/1", "run_id": "bad id!", "bundle": "b", "models": [{"file": "m.pte", "runtime": "executorch"}], "protocol": \#(protocolText)}"#, "run_id"),
            (#"{"schema": "vitsdk.run_spec/1", "run_id": "r", "bundle": "b", "models": [{"file": "m.pte", "runtime": "tensorrt"}], "protocol": \#(protocolText)}"#, "models[0].runtime 'tensorrt'"),
            (#"{"schema": "vitsdk.run_spec/1", "run_id": "r", "bundle": "b", "models": [], "protocol": \#(protocolText)}"#, "no models"),
            (#"{"schema": "vitsdk.run_spec/1", "run_id": "r", "bundle": "b", "models": [{"file": "m.pte", "runtime": "executorch"}], "protocol": {"warmup_runs": 1}}"#, "warmup_seconds is missing"),
        ]
        for (text, needle) in cases {
            XCTAssertThrowsError(try RunSpec(json: parse(text)), needle) { error in
                XCTAssertTrue("\(error)".contains(needle), "'\(error)' should mention '\(needle)'")
            }
        }
    }

    func testProtocolBounds() throws {
        XCTAssertThrowsError(try BenchProtocol(minRuns: 0)) { XCTAssertTrue("\($0)".contains("min_runs")) }
        XCTAssertThrowsError(try BenchProtocol(maxSeconds: 0)) { XCTAssertTrue("\($0)".contains("max_seconds")) }
        var json = try parse(protocolText).objectValue!
        json["warmup_run"] = .int(3)
        XCTAssertThrowsError(try BenchProtocol(json: .object(json))) { XCTAssertTrue("\($0)".contains("unknown field 'warmup_run'")) }
    }
}

let manifestText = """
{"schema": "vitsdk.manifest/1", "model": {"name": "vit_nano_patch4_28", "keep_rate": 0.7},
 "input": {"shape": [1, 1, 28, 28], "dtype": "float32", "layout": "NCHW", "mean": [0.286], "std": [0.353]},
 "files": [
   {"path": "model.mlpackage", "format": "mlpackage", "runtime": "coreml", "precision": "fp16", "delegate": null,
    "size_bytes": 1000, "sha256": "\(String(repeating: "a", count: 64))", "macs": 1234, "verification": {"executed": false}},
   {"path": "model_fp32.pte", "format": "pte", "runtime": "executorch", "precision": "fp32", "delegate": "xnnpack",
    "size_bytes": 2000, "sha256": "\(String(repeating: "B", count: 64))", "macs": 1234, "verification": null},
   {"path": "model.tflite", "format": "tflite", "runtime": "litert", "precision": "fp32", "delegate": null,
    "size_bytes": 2000, "sha256": "\(String(repeating: "c", count: 64))", "macs": 1234}],
 "reference": {"inputs": "reference/inputs.npy", "outputs": "reference/outputs.npy", "labels": null,
               "tolerance": 0.001, "tolerances": {"fp16": 0.05, "int8": 0.5}},
 "future_field": 1}
"""

final class ManifestTests: XCTestCase {
    func testReadsManifest() throws {
        let m = try Manifest(json: parse(manifestText))
        XCTAssertEqual(m.modelName, "vit_nano_patch4_28")
        XCTAssertEqual(m.input.shape, [1, 1, 28, 28])
        XCTAssertEqual(m.input.elementCount, 784)
        XCTAssertEqual(m.input.mean, [0.286])
        XCTAssertEqual(m.iosFiles.map(\.path), ["model.mlpackage", "model_fp32.pte"])
        XCTAssertEqual(m.files[1].sha256, String(repeating: "b", count: 64), "digests are lower-cased")
        XCTAssertEqual(m.files[1].delegate, "xnnpack")
        XCTAssertEqual(m.reference, Manifest.Reference(inputs: "reference/inputs.npy", outputs: "reference/outputs.npy",
                                                       tolerance: 0.001, tolerances: ["fp16": 0.05, "int8": 0.5]))
        XCTAssertThrowsError(try m.file("model_fp32.ptee")) { XCTAssertTrue("\($0)".contains("did you mean 'model_fp32.pte'")) }
    }

    func testRejectsBadManifests() throws {
        func bad(_ from: String, _ to: String, _ needle: String) {
            let text = manifestText.replacingOccurrences(of: from, with: to)
            XCTAssertNotEqual(text, manifestText, "replacement \(from) did not apply")
            XCTAssertThrowsError(try Manifest(json: parse(text))) {
                XCTAssertTrue("\($0)".contains(needle), "'\($0)' should mention '\(needle)'")
            }
        }
        bad("vitsdk.manifest/1", "vitsdk.manifest/3", "newer than this app reads")
        bad("\"model.tflite\"", "\"../model.tflite\"", "leaves the bundle folder")
        bad(String(repeating: "c", count: 64), "xyz", "files[2].sha256")
        bad("\"runtime\": \"litert\"", "\"runtime\": \"onnx\"", "files[2].runtime 'onnx'")
        bad("[1, 1, 28, 28]", "[1, 0, 28]", "input.shape")
        bad("\"reference/inputs.npy\"", "\"../inputs.npy\"", "leaves the bundle folder")
        bad("\"inputs\":", "\"input\":", "needs 'inputs' and 'outputs'")
    }

    func testManifestFromFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("benchcore-manifest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try Manifest.load(bundle: dir)) { XCTAssertTrue("\($0)".contains("has no manifest.json")) }
        try Data(manifestText.utf8).write(to: dir.appendingPathComponent("manifest.json"))
        let (m, sha) = try Manifest.load(bundle: dir)
        XCTAssertEqual(m.files.count, 3)
        XCTAssertEqual(sha, SHA256.hex(Data(manifestText.utf8)))
        try Data("{not json".utf8).write(to: dir.appendingPathComponent("manifest.json"))
        XCTAssertThrowsError(try Manifest.load(bundle: dir)) { XCTAssertTrue("\($0)".contains("not valid JSON")) }
    }
}

final class SHA256Tests: XCTestCase {
    func testKnownDigests() throws {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Streaming in uneven pieces gives the same digest as one piece.
        let big = Data((0..<10_000).map { UInt8($0 % 251) })
        var h = SHA256()
        h.update(big.prefix(63)); h.update(big.dropFirst(63).prefix(1000)); h.update(big.dropFirst(1063))
        XCTAssertEqual(h.finalizeHex(), SHA256.hex(big))
    }
}

final class NpyTests: XCTestCase {
    /// A .npy as numpy writes it (format 1.0, header padded to 64 bytes).
    static func npy(descr: String, shape: [Int], body: Data) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        while (10 + header.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.count & 0xff), UInt8(header.count >> 8)])
        d.append(Data(header.utf8))
        d.append(body)
        return d
    }

    static func f32(_ values: [Float]) -> Data {
        var d = Data()
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }

    func testReadsFloat32AndInt64() throws {
        let a = try NDArray.parseNpy(Self.npy(descr: "<f4", shape: [2, 3], body: Self.f32([1, -2.5, 3, 4, 5, 6.25])), name: "a.npy")
        XCTAssertEqual(a.shape, [2, 3])
        XCTAssertEqual(a.values, [1, -2.5, 3, 4, 5, 6.25])
        var body = Data()
        for v: Int64 in [7, -3] { withUnsafeBytes(of: v.littleEndian) { body.append(contentsOf: $0) } }
        let b = try NDArray.parseNpy(Self.npy(descr: "<i8", shape: [2], body: body), name: "b.npy")
        XCTAssertEqual(b.values, [7, -3])
    }

    func testRejectsBadFiles() {
        XCTAssertThrowsError(try NDArray.parseNpy(Data("hello world".utf8), name: "x.npy")) { XCTAssertTrue("\($0)".contains("not a .npy")) }
        XCTAssertThrowsError(try NDArray.parseNpy(Self.npy(descr: ">f4", shape: [1], body: Self.f32([1])), name: "x.npy")) {
            XCTAssertTrue("\($0)".contains("'>f4' is not supported"))
        }
        XCTAssertThrowsError(try NDArray.parseNpy(Self.npy(descr: "<f4", shape: [4], body: Self.f32([1, 2])), name: "x.npy")) {
            XCTAssertTrue("\($0)".contains("truncated"))
        }
    }

    func testNumericsCheck() throws {
        let ref = try NDArray(shape: [2, 3], values: [0.1, 0.9, 0.0, 0.5, 0.2, 0.3])
        let pass = NumericsCheck.compare(output: [0.1, 0.9, 0.0005, 0.5, 0.2, 0.3], reference: ref, rows: 2, tolerance: 1e-3)
        XCTAssertEqual(pass.status, "pass")
        XCTAssertEqual(pass.metric, "max_abs_diff / max_abs_ref")
        XCTAssertEqual(pass.top1Agree, 1.0)
        XCTAssertEqual(pass.maxAbsDiff!, 0.0005, accuracy: 1e-6)
        XCTAssertEqual(pass.relDiff!, 0.0005 / 0.9, accuracy: 1e-6, "relative to max |reference|")
        let fail = NumericsCheck.compare(output: [0.1, 0.9, 0.0, 0.1, 0.2, 0.3], reference: ref, rows: 2, tolerance: 1e-3)
        XCTAssertEqual(fail.status, "fail")
        XCTAssertEqual(fail.top1Agree, 0.5, "second row's argmax moved")
        XCTAssertTrue(fail.reason!.contains("max |diff| / max |ref|"))
        // Without a tolerance for the precision (int8), top-1 agreement decides.
        let int8 = NumericsCheck.compare(output: [0.3, 0.6, 0.2, 0.4, 0.1, 0.3], reference: ref, rows: 2, tolerance: nil)
        XCTAssertEqual(int8.status, "pass")
        XCTAssertEqual(int8.metric, "top1_agree")
        XCTAssertNil(int8.tolerance)
        XCTAssertEqual(NumericsCheck.compare(output: [0.3, 0.6, 0.2, 0.0, 0.1, 0.3], reference: ref, rows: 2, tolerance: nil).status, "fail")
        // Only the first rows that ran are compared; a wrong size fails.
        XCTAssertEqual(NumericsCheck.compare(output: [0.1, 0.9, 0.0], reference: ref, rows: 1, tolerance: 1e-3).status, "pass")
        XCTAssertEqual(NumericsCheck.compare(output: [1, 2], reference: ref, rows: 1, tolerance: 1e-3).status, "fail")
        // The manifest's tolerance per precision, fp32 falling back to `tolerance`.
        let r = Manifest.Reference(inputs: "i.npy", outputs: "o.npy", tolerance: 1e-4, tolerances: ["fp16": 0.05])
        XCTAssertEqual(r.tolerance(for: "fp16"), 0.05)
        XCTAssertEqual(r.tolerance(for: nil), 1e-4)
        XCTAssertNil(r.tolerance(for: "int8"))
    }
}
