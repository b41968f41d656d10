import BenchCore
import SwiftUI
import UniformTypeIdentifiers

/// One screen: pick a bundle, choose Core ML compute units and the protocol, run, share results.
struct ContentView: View {
    @EnvironmentObject var model: AppModel
    @State private var importing = false

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    if model.bundles.isEmpty {
                        Text("No bundle yet. Import the folder `vitsdk export --target ios` made (AirDrop it, then pick it in Files), drop it into On My iPhone > VitBench > bundles, or run `vitsdk bench BUNDLE --device ios` from a Mac.")
                            .font(.footnote)
                    }
                    ForEach(model.bundles, id: \.self) { bundle in
                        Button {
                            model.runManual(bundle: bundle)
                        } label: {
                            Label(bundle.lastPathComponent, systemImage: "play.circle")
                        }
                        .disabled(model.running)
                    }
                    Button("Import bundle folder…") { importing = true }
                } header: {
                    Text("Bundles (tap to run)")
                }

                Section("Core ML compute units") {
                    ForEach(ManualRun.computeUnitChoices, id: \.self) { unit in
                        Toggle(unit, isOn: Binding(
                            get: { model.computeUnits.contains(unit) },
                            set: { on in if on { model.computeUnits.insert(unit) } else { model.computeUnits.remove(unit) } }))
                    }
                }

                Section("Protocol") {
                    Stepper("Warm-up runs: \(model.warmupRuns)", value: $model.warmupRuns, in: 0...1000, step: 5)
                    Stepper("Warm-up seconds: \(model.warmupSeconds, specifier: "%.0f")", value: $model.warmupSeconds, in: 0...600)
                    Stepper("Timed runs (min): \(model.minRuns)", value: $model.minRuns, in: 1...100_000, step: 10)
                    Stepper("Timed seconds (min): \(model.minSeconds, specifier: "%.0f")", value: $model.minSeconds, in: 0...7200, step: 5)
                    Stepper("Stop after seconds: \(model.maxSeconds, specifier: "%.0f")", value: $model.maxSeconds, in: 0...7200, step: 30)
                    Stepper("Cooldown seconds: \(model.cooldownSeconds, specifier: "%.0f")", value: $model.cooldownSeconds, in: 0...600)
                }

                Section {
                    HStack {
                        Text("Battery capacity (Wh)")
                        TextField("unknown", value: $model.batteryWh, format: .number)
                            .keyboardType(.decimalPad)
                            .multilineTextAlignment(.trailing)
                    }
                    Stepper("Idle baseline seconds: \(model.idleBaselineSeconds, specifier: "%.0f")",
                            value: $model.idleBaselineSeconds, in: 0...7200, step: 60)
                } header: {
                    Text("Energy")
                } footer: {
                    Text("iOS has no power API. With the capacity entered, the phone unplugged, and runs and idle baseline of 30+ minutes each, the battery level gives a coarse figure with its uncertainty; otherwise energy is reported unavailable. For real power use Xcode Instruments (see README).")
                }

                Section("Run") {
                    if model.running {
                        ProgressView()
                        Button("Stop", role: .destructive) { model.stop() }
                    }
                    if let error = model.error {
                        Text(error).foregroundStyle(.red).font(.footnote)
                    }
                    ForEach(Array(model.log.suffix(30).enumerated()), id: \.offset) { _, line in
                        Text(line).font(.caption.monospaced())
                    }
                }

                Section("Results (share to a Mac, then `vitsdk report`)") {
                    ForEach(model.results, id: \.self) { url in
                        ShareLink(item: url) {
                            Text(url.lastPathComponent).font(.caption)
                        }
                    }
                }
            }
            .navigationTitle("VitBench")
            .refreshable { model.refresh() }
            .fileImporter(isPresented: $importing, allowedContentTypes: [.folder]) { result in
                if case .success(let url) = result { model.importBundle(from: url) }
                if case .failure(let error) = result { model.error = "\(error.localizedDescription)" }
            }
        }
    }
}
