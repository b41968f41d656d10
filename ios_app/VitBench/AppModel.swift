import BenchCore
import Foundation
import SwiftUI
#if canImport(UIKit)
import UIKit
#endif

/// The app's state: bundles in Documents/bundles, the settings of a manual run, the running
/// benchmark (on a background thread) and the results in Documents/results. Everything it
/// measures goes through BenchCore's RunController, the code `swift test` checks on Linux.
@MainActor
final class AppModel: ObservableObject {
    @Published var bundles: [URL] = []
    @Published var results: [URL] = []
    @Published var log: [String] = []
    @Published var running = false
    @Published var error: String?

    // Manual-run settings (defaults: vitsdk's Protocol()).
    @Published var computeUnits: Set<String> = ["all"]
    @Published var warmupRuns = 10
    @Published var warmupSeconds = 1.0
    @Published var minRuns = 50
    @Published var minSeconds = 5.0
    @Published var maxSeconds = 60.0
    @Published var cooldownSeconds = 2.0
    @Published var idleBaselineSeconds = 5.0
    /// Battery capacity in Wh (iOS does not expose it); 0: unknown, energy reported unavailable.
    @Published var batteryWh = UserDefaults.standard.double(forKey: "batteryWh") {
        didSet { UserDefaults.standard.set(batteryWh, forKey: "batteryWh") }
    }

    let documents: URL
    private let stopFlag = StopFlag()

    init() {
        documents = FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
        for sub in ["bundles", "results", "inbox"] {
            try? FileManager.default.createDirectory(at: documents.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        refresh()
    }

    func refresh() {
        let fm = FileManager.default
        let bundleRoot = documents.appendingPathComponent("bundles")
        bundles = ((try? fm.contentsOfDirectory(at: bundleRoot, includingPropertiesForKeys: nil)) ?? [])
            .compactMap { try? RunController.locateBundle($0) }
            .sorted { $0.path < $1.path }
        var found: [URL] = []
        if let walker = fm.enumerator(at: documents.appendingPathComponent("results"), includingPropertiesForKeys: nil) {
            for case let url as URL in walker where url.pathExtension == "json" && url.lastPathComponent != ResultsStore.indexName {
                found.append(url)
            }
        }
        results = found.sorted { $0.path > $1.path }
    }

    /// A bundle folder picked in Files (iCloud Drive, On My iPhone, AirDrop'd into Downloads):
    /// copied into the app, so later runs do not depend on the picker's temporary access.
    func importBundle(from url: URL) {
        let scoped = url.startAccessingSecurityScopedResource()
        defer { if scoped { url.stopAccessingSecurityScopedResource() } }
        do {
            let source = try RunController.locateBundle(url)
            _ = try Manifest.load(bundle: source)
            let target = documents.appendingPathComponent("bundles").appendingPathComponent(source.lastPathComponent)
            let fm = FileManager.default
            if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
            try fm.copyItem(at: source, to: target)
            refresh()
        } catch {
            self.error = "\(error)"
        }
    }

    func benchmarkProtocol() throws -> BenchProtocol {
        try BenchProtocol(warmupRuns: warmupRuns, warmupSeconds: warmupSeconds, minRuns: minRuns, minSeconds: minSeconds,
                          maxSeconds: maxSeconds > 0 ? maxSeconds : nil, cooldownSeconds: cooldownSeconds,
                          idleBaselineSeconds: idleBaselineSeconds)
    }

    /// A run made here: every Core ML file once per chosen compute units, every .pte once.
    func runManual(bundle: URL) {
        do {
            let (manifest, _) = try Manifest.load(bundle: bundle)
            let units = ManualRun.computeUnitChoices.filter { computeUnits.contains($0) }
            let spec = try ManualRun.spec(manifest: manifest, bundlePath: bundle.path, runID: ManualRun.runID(Date()),
                                          computeUnits: units.isEmpty ? ["all"] : units, benchProtocol: try benchmarkProtocol())
            start(spec, batteryWh: batteryWh > 0 ? batteryWh : nil)
        } catch {
            self.error = "\(error)"
        }
    }

    private var launchHandled = false

    /// Once per process: a launch by `vitsdk bench --device ios` carries `--run-spec`.
    func handleLaunch(arguments: [String]) {
        guard !launchHandled else { return }
        launchHandled = true
        do {
            if let request = try LaunchRequest.parse(arguments) { runHeadless(request) }
        } catch {
            self.error = "\(error)"
        }
    }

    /// Started by `vitsdk bench --device ios` (launch arguments): the run spec it copied in.
    func runHeadless(_ request: LaunchRequest) {
        let capacity = request.batteryWh ?? (batteryWh > 0 ? batteryWh : nil)
        do {
            start(try makeController(batteryWh: capacity).readSpec(request.runSpecPath), batteryWh: capacity)
        } catch {
            self.error = "\(error)"
            log.append("error: \(error)")
        }
    }

    func stop() {
        stopFlag.set(true)
        log.append("stopping after the current inference ...")
    }

    private func makeController(batteryWh: Double?) -> RunController {
        let flag = stopFlag
        return RunController(documents: documents, clock: SystemClock(), probe: probe,
                             battery: BatteryEnergyEstimator(capacityWh: batteryWh),
                             shouldStop: { flag.get() },
                             log: { line in DispatchQueue.main.async { [weak self] in self?.log.append(line) } },
                             makeBackend: Backends.make)
    }

    private lazy var probe: DeviceProbe = makeProbe()

    private func makeProbe() -> DeviceProbe {
        #if canImport(UIKit)
        return IOSDeviceProbe()
        #else
        fatalError("VitBench runs on iOS")
        #endif
    }

    private func start(_ spec: RunSpec, batteryWh: Double?) {
        guard !running else { return }
        running = true
        error = nil
        stopFlag.set(false)
        log = ["run \(spec.runID): \(spec.models.count) model run(s)"]
        #if canImport(UIKit)
        UIApplication.shared.isIdleTimerDisabled = true  // screen stays on: same display power idle and active
        #endif
        let controller = makeController(batteryWh: batteryWh)
        Thread.detachNewThread { [weak self] in
            let outcome: String
            do {
                let files = try controller.run(spec)
                outcome = "done: \(files.count) results file(s) in Documents/\(spec.outputDir ?? "results/\(spec.runID)")"
            } catch {
                outcome = "error: \(error)"
            }
            DispatchQueue.main.async {
                guard let self else { return }
                self.log.append(outcome)
                if outcome.hasPrefix("error") { self.error = String(outcome.dropFirst(7)) }
                self.running = false
                #if canImport(UIKit)
                UIApplication.shared.isIdleTimerDisabled = false
                #endif
                self.refresh()
            }
        }
    }
}

/// A flag the benchmark thread polls between inferences.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    func set(_ v: Bool) {
        lock.lock()
        value = v
        lock.unlock()
    }

    func get() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
