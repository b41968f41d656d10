import SwiftUI

/// VitBench: measures the Core ML and ExecuTorch files of a vitsdk bundle on this iPhone with the
/// shared protocol and writes `vitsdk.results/1` JSON. Started by hand, or by
/// `vitsdk bench BUNDLE --device ios` with `--run-spec inbox/RUN_ID.json` (see ios_app/README.md).
@main
struct VitBenchApp: App {
    @StateObject private var model = AppModel()
    @Environment(\.scenePhase) private var scenePhase

    var body: some Scene {
        WindowGroup {
            ContentView()
                .environmentObject(model)
                .task { model.handleLaunch(arguments: ProcessInfo.processInfo.arguments) }
        }
        .onChange(of: scenePhase) { _, phase in
            // iOS suspends a backgrounded app: stop cleanly, keep what was measured (status partial).
            if phase == .background && model.running { model.stop() }
        }
    }
}
