import Foundation
import XCTest
@testable import BenchCore

final class RunControllerTests: XCTestCase {
    var documents: URL!

    override func setUpWithError() throws {
        documents = FileManager.default.temporaryDirectory.appendingPathComponent("benchcore-docs-\(UUID().uuidString)")
        // As devicectl may leave it: Documents/bundles/RUN/<bundle folder>/manifest.json (one level down).
        try makeBundle(at: documents.appendingPathComponent("bundles/r7/my bundle"), pteBytes: Data("pte".utf8))
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: documents)
    }

    func writeSpec(_ models: String, runID: String = "r7") throws {
        let text = """
        {"schema": "vitsdk.run_spec/1", "run_id": "\(runID)", "bundle": "bundles/r7", "output_dir": null,
         "models": \(models), "protocol": \(protocolText)}
        """
        try FileManager.default.createDirectory(at: documents.appendingPathComponent("inbox"), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: documents.appendingPathComponent("inbox/\(runID).json"))
    }

    func controller(clock: FakeClock, stopAfter: Int? = nil) -> RunController {
        var made = 0
        return RunController(documents: documents, clock: clock, probe: FakePhone(),
                             battery: BatteryEnergyEstimator(capacityWh: nil), shouldStop: { stopAfter.map { made >= $0 } ?? false }) { file, run, bundle, manifest in
            made += 1
            XCTAssertEqual(bundle.lastPathComponent, "my bundle")
            XCTAssertEqual(manifest.modelName, "vit_nano_patch4_28")
            return ScriptedBackend(runtime: file.runtime, delegate: run.delegate ?? file.delegate, clock: clock,
                                   latenciesS: [0.004])
        }
    }

    func testHeadlessRunWritesEveryResultThenTheIndex() throws {
        try writeSpec(#"[{"file": "model.mlpackage", "runtime": "coreml", "delegate": "cpu"}, {"file": "model.mlpackage", "runtime": "coreml", "delegate": "all"}, {"file": "model_fp32.pte", "runtime": "executorch"}]"#)
        let request = try XCTUnwrap(LaunchRequest.parse(["-NSDocumentRevisionsDebugMode", "YES", "--run-spec", "inbox/r7.json", "--battery-wh", "12.7"]))
        XCTAssertEqual(request, LaunchRequest(runSpecPath: "inbox/r7.json", batteryWh: 12.7))
        let clock = FakeClock()
        let c = controller(clock: clock)
        let files = try c.run(try c.readSpec(request.runSpecPath))
        XCTAssertEqual(files.map(\.lastPathComponent), ["r7__model.mlpackage__coreml-cpu.json", "r7__model.mlpackage__coreml-all.json",
                                                        "r7__model_fp32.pte__executorch.json"])
        XCTAssertEqual(clock.slept, [3, 3, 3], "a cooldown before each model")
        let index = try JSON.read(documents.appendingPathComponent("results/r7/run_complete.json"), what: "index")
        XCTAssertEqual(index["results"]?.arrayValue?.count, 3)
        XCTAssertEqual(index["stopped_early"], .bool(false))
        for f in files {
            let doc = try JSON.read(f, what: "results")
            XCTAssertEqual(doc["status"], .string("complete"))
            XCTAssertEqual(doc["run_id"], .string("r7"))
            _ = try ResultsStore(directory: outputDir()).write(doc, named: "ios_run_" + f.lastPathComponent)
        }
    }

    func testStopBetweenModelsIsRecorded() throws {
        try writeSpec(#"[{"file": "model_fp32.pte", "runtime": "executorch"}, {"file": "model.mlpackage", "runtime": "coreml"}]"#)
        let c = controller(clock: FakeClock(), stopAfter: 1)
        let files = try c.run(try c.readSpec("inbox/r7.json"))
        XCTAssertEqual(files.count, 1)
        let index = try JSON.read(documents.appendingPathComponent("results/r7/run_complete.json"), what: "index")
        XCTAssertEqual(index["stopped_early"], .bool(true))
    }

    func testSpecIsCheckedBeforeAnythingRuns() throws {
        let cases: [(String, String)] = [
            (#"[{"file": "model_fp23.pte", "runtime": "executorch"}]"#, "did you mean 'model_fp32.pte'"),
            (#"[{"file": "model_fp32.pte", "runtime": "coreml"}]"#, "the run spec asks for coreml"),
            (#"[{"file": "model.mlpackage", "runtime": "coreml", "delegate": "npu"}]"#, "compute units 'npu'"),
            (#"[{"file": "model_fp32.pte", "runtime": "litert"}]"#, "does not run on iOS"),
        ]
        for (models, needle) in cases {
            try writeSpec(models)
            let clock = FakeClock()
            let c = controller(clock: clock)
            XCTAssertThrowsError(try c.run(try c.readSpec("inbox/r7.json"))) { XCTAssertTrue("\($0)".contains(needle), "'\($0)' lacks '\(needle)'") }
            XCTAssertEqual(clock.slept, [], "nothing ran")
        }
        XCTAssertThrowsError(try controller(clock: FakeClock()).readSpec("inbox/missing.json")) { XCTAssertTrue("\($0)".contains("cannot read run spec")) }
    }

    func testLaunchArguments() throws {
        XCTAssertNil(try LaunchRequest.parse([]))
        XCTAssertNil(try LaunchRequest.parse(["-AppleLanguages", "(en)"]))
        XCTAssertThrowsError(try LaunchRequest.parse(["--run-spec"])) { XCTAssertTrue("\($0)".contains("needs a value")) }
        XCTAssertThrowsError(try LaunchRequest.parse(["--run-spec", "a.json", "--battery-wh", "lots"])) { XCTAssertTrue("\($0)".contains("not a battery capacity")) }
        XCTAssertThrowsError(try LaunchRequest.parse(["--battery-wh", "12"])) { XCTAssertTrue("\($0)".contains("needs --run-spec")) }
    }

    func testLocateBundle() throws {
        let root = documents.appendingPathComponent("bundles/r7")
        XCTAssertEqual(try RunController.locateBundle(root).lastPathComponent, "my bundle")
        XCTAssertEqual(try RunController.locateBundle(root.appendingPathComponent("my bundle")).lastPathComponent, "my bundle")
        XCTAssertThrowsError(try RunController.locateBundle(documents)) { XCTAssertTrue("\($0)".contains("no bundle")) }
    }
}
