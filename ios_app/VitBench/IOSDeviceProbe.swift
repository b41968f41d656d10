#if canImport(UIKit)
import BenchCore
import Foundation
import UIKit

/// What iOS lets an app read about the phone: its model, OS, thermal state and battery level
/// (coarse, see BatteryEnergyEstimator). UIDevice is main-thread only; the benchmark runs on a
/// background thread, so reads hop to the main queue.
final class IOSDeviceProbe: DeviceProbe {
    let device: DeviceInfo

    /// Call on the main thread (it turns battery monitoring on).
    @MainActor
    init() {
        let ui = UIDevice.current
        ui.isBatteryMonitoringEnabled = true
        var info = utsname()
        uname(&info)
        let machine = withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        device = DeviceInfo(name: ui.name, model: machine, soc: nil, os: "ios", osVersion: ui.systemVersion,
                            cpuCores: ProcessInfo.processInfo.processorCount,
                            memoryBytes: Int(clamping: ProcessInfo.processInfo.physicalMemory))
    }

    func thermalState() -> String? {
        switch ProcessInfo.processInfo.thermalState {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return nil
        }
    }

    func battery(timeS: Double) -> BatteryReading {
        let read: @MainActor () -> (Float, UIDevice.BatteryState) = {
            (UIDevice.current.batteryLevel, UIDevice.current.batteryState)
        }
        let (level, state) = Thread.isMainThread
            ? MainActor.assumeIsolated { read() }
            : DispatchQueue.main.sync { MainActor.assumeIsolated { read() } }
        let mapped: BatteryReading.State
        switch state {
        case .unplugged: mapped = .unplugged
        case .charging: mapped = .charging
        case .full: mapped = .full
        default: mapped = .unknown
        }
        return BatteryReading(level: level < 0 ? nil : Double(level), state: mapped, timeS: timeS)
    }
}
#endif
