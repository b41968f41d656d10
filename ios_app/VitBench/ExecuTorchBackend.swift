#if canImport(ExecuTorch)
import BenchCore
import ExecuTorch
import Foundation

/// The ExecuTorch runtime version this app links: keep it equal to the `executorch` Swift package
/// branch in VitBench.xcodeproj (swiftpm-X.Y.Z), and to the exporter that made the .pte files
/// (a bundle's manifest lists its `exporters.executorch`).
enum ExecuTorchPin {
    static let version = "1.5.0"
}

/// An ExecuTorch program (.pte) run with the `Module` API; the delegate (XNNPACK, Core ML) is the
/// one the file was lowered to at export, so it is recorded, not chosen here. Thread count is
/// XNNPACK's default (the Swift API takes none).
final class ExecuTorchBackend: InferenceBackend {
    let runtime = Runtime.executorch
    let version: String? = ExecuTorchPin.version
    let delegate: String?
    let computeUnits: String? = nil
    let threads: Int? = nil

    private let module: Module
    private let inputShape: [Int]
    private var input: Tensor<Float>?
    private var last: Tensor<Float>?

    init(fileURL: URL, delegate: String?, inputShape: [Int]) {
        module = Module(filePath: fileURL.path)
        self.delegate = delegate
        self.inputShape = inputShape
    }

    func load() throws {
        try module.load("forward")
        if input == nil {
            input = Tensor<Float>([Float](repeating: 0, count: inputShape.reduce(1, *)), shape: inputShape)
        }
    }

    func setInput(_ x: NDArray) throws {
        input = Tensor<Float>(x.values, shape: x.shape)
    }

    func predict() throws {
        guard let input else { throw BenchError.failed("predict before load") }
        last = try Tensor<Float>(module.forward(input))
    }

    func lastOutput() throws -> [Float] {
        guard let last else { throw BenchError.failed("no output yet") }
        return last.scalars()
    }
}
#endif
