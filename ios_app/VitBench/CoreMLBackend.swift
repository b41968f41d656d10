#if canImport(CoreML)
import BenchCore
import CoreML
import Foundation

/// A Core ML package (.mlpackage) run with `MLModel` on the compute units the run asks for
/// (cpu = cpuOnly, cpu_gpu = cpuAndGPU, cpu_ane = cpuAndNeuralEngine, all = all; Core ML decides
/// where each op runs within them). `load()` compiles the package (as an app that ships an
/// .mlpackage does on first launch) and loads it; the compile time is reported separately in
/// `runtime.extra.compile_ms`.
final class CoreMLBackend: InferenceBackend {
    let runtime = Runtime.coreml
    /// Core ML has no version API of its own: it is the OS's (results `device.os_version`).
    let version: String? = nil
    let delegate: String?
    let computeUnits: String?
    let threads: Int? = nil
    private(set) var extra: [String: JSON] = [:]

    private let packageURL: URL
    private let units: MLComputeUnits
    private let inputShape: [Int]
    private var model: MLModel?
    private var inputName = ""
    private var outputName = ""
    private var provider: MLFeatureProvider?
    private var last: MLFeatureProvider?

    init(packageURL: URL, delegate: String?, inputShape: [Int]) throws {
        let name = try ComputeUnitsName.mlName(delegate)
        switch name {
        case "cpuOnly": units = .cpuOnly
        case "cpuAndGPU": units = .cpuAndGPU
        case "cpuAndNeuralEngine": units = .cpuAndNeuralEngine
        default: units = .all
        }
        self.packageURL = packageURL
        self.delegate = delegate ?? "all"
        self.computeUnits = name
        self.inputShape = inputShape
    }

    func load() throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let compiled = try MLModel.compileModel(at: packageURL)
        let compileMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        let config = MLModelConfiguration()
        config.computeUnits = units
        let m = try MLModel(contentsOf: compiled, configuration: config)
        guard let input = m.modelDescription.inputDescriptionsByName.keys.sorted().first,
              let output = m.modelDescription.outputDescriptionsByName.keys.sorted().first else {
            throw BenchError.failed("\(packageURL.lastPathComponent) has no input or no output")
        }
        model = m
        inputName = input
        outputName = output
        extra = ["compile_ms": .double(compileMs), "load_ms_includes_compile": .bool(true),
                 "input_name": .string(input), "output_name": .string(output)]
        if provider == nil {
            try setInput(try NDArray(shape: inputShape, values: [Float](repeating: 0, count: inputShape.reduce(1, *))))
        }
    }

    func setInput(_ input: NDArray) throws {
        guard !inputName.isEmpty else { throw BenchError.failed("setInput before load") }
        let array = try MLMultiArray(shape: input.shape.map { NSNumber(value: $0) }, dataType: .float32)
        array.withUnsafeMutableBufferPointer(ofType: Float.self) { buffer, _ in
            for (i, v) in input.values.enumerated() { buffer[i] = v }
        }
        provider = try MLDictionaryFeatureProvider(dictionary: [inputName: MLFeatureValue(multiArray: array)])
    }

    func predict() throws {
        guard let model, let provider else { throw BenchError.failed("predict before load") }
        last = try model.prediction(from: provider)
    }

    func lastOutput() throws -> [Float] {
        guard let array = last?.featureValue(for: outputName)?.multiArrayValue else {
            throw BenchError.failed("no '\(outputName)' output to read")
        }
        // Handles float16 outputs and non-contiguous strides.
        return MLShapedArray<Float>(converting: array).scalars
    }
}
#endif
