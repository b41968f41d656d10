import BenchCore
import Foundation

/// Builds the backend for one model run of a bundle. Core ML is always there on iOS; ExecuTorch
/// only when the app was built with its Swift package (README: "ExecuTorch").
enum Backends {
    static func make(file: Manifest.File, run: ModelRun, bundle: URL, manifest: Manifest) throws -> InferenceBackend {
        let url = bundle.appendingPathComponent(file.path)
        switch file.runtime {
        case .coreml:
            #if canImport(CoreML)
            return try CoreMLBackend(packageURL: url, delegate: run.delegate, inputShape: manifest.input.shape)
            #else
            throw BenchError.failed("Core ML is not available on this platform")
            #endif
        case .executorch:
            #if canImport(ExecuTorch)
            return ExecuTorchBackend(fileURL: url, delegate: run.delegate ?? file.delegate, inputShape: manifest.input.shape)
            #else
            throw BenchError.failed("this build of VitBench has no ExecuTorch runtime (add the executorch Swift package, see ios_app/README.md)")
            #endif
        default:
            throw BenchError.badInput("\(file.path): \(file.runtime.rawValue) does not run on iOS")
        }
    }
}
