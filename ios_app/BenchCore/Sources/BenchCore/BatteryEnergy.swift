import Foundation

/// What iOS tells about the battery (UIDevice): a level in [0, 1] with coarse steps, and a state.
/// There is no public current, voltage or power API, so this is all an app can read.
public struct BatteryReading: Equatable, Sendable {
    public enum State: String, Sendable {
        case unplugged, charging, full, unknown
    }

    /// nil when iOS reports -1 (monitoring off, or the simulator).
    public var level: Double?
    public var state: State
    /// Monotonic time of the reading, seconds.
    public var timeS: Double

    public init(level: Double?, state: State, timeS: Double) {
        self.level = level.flatMap { $0 < 0 ? nil : $0 }
        self.state = state
        self.timeS = timeS
    }
}

/// Two readings around a phase (idle, or the inferences).
public struct BatteryWindow: Equatable, Sendable {
    public var before: BatteryReading
    public var after: BatteryReading

    public init(before: BatteryReading, after: BatteryReading) {
        self.before = before
        self.after = after
    }

    public var durationS: Double { after.timeS - before.timeS }
    /// Fraction of full charge used (positive while discharging); nil if a level is unknown.
    public var drop: Double? {
        guard let a = before.level, let b = after.level else { return nil }
        return a - b
    }
    public var pluggedIn: Bool { before.state != .unplugged || after.state != .unplugged }
}

/// Energy per inference from the battery level, the only energy signal iOS exposes to apps.
///
/// The level moves in steps of 1% (recent iOS) or 5% (older iOS; the app cannot tell which from one
/// reading), so the figure is coarse: it needs long runs, an unplugged phone, an idle window of
/// similar length measured the same way, and the battery's capacity, which iOS does not expose
/// (the user enters it). Each difference of two readings is off by up to one step: uniform
/// quantization of both ends gives a standard error of step / sqrt(6); the capacity's own relative
/// uncertainty (battery wear is unknown to the app) is added in quadrature. Short of any of these,
/// the answer is `unavailable` with the observed levels in the reason, never a number.
public struct BatteryEnergyEstimator: Equatable, Sendable {
    /// Battery capacity in watt-hours (design capacity x nominal voltage), entered by the user.
    public var capacityWh: Double?
    /// Relative uncertainty of that capacity (wear): 0.1 = 10%.
    public var capacityRelUncertainty: Double
    /// The active window must drop by at least this many level steps.
    public var minSteps: Int

    public init(capacityWh: Double?, capacityRelUncertainty: Double = 0.1, minSteps: Int = 3) {
        self.capacityWh = capacityWh
        self.capacityRelUncertainty = capacityRelUncertainty
        self.minSteps = minSteps
    }

    /// 0.01 if any reading is off the 5% grid (then iOS reports 1% steps), else 0.05 (the coarser
    /// one is assumed when the readings cannot tell).
    public static func levelStep(_ readings: [BatteryReading]) -> Double {
        for r in readings {
            guard let level = r.level else { continue }
            let onGrid = abs(level * 20 - (level * 20).rounded()) < 1e-3
            if !onGrid { return 0.01 }
        }
        return 0.05
    }

    public func estimate(active: BatteryWindow?, idle: BatteryWindow?, inferences: Int) -> EnergyResult {
        let source = "UIDevice.batteryLevel"
        guard let active else {
            return .unavailable("iOS has no public power API; the battery level was not read")
        }
        guard let activeDrop = active.drop else {
            return .unavailable("iOS has no public power API, and the battery level is not available here (UIDevice.batteryLevel = -1: simulator or battery monitoring off)")
        }
        let readings = [active.before, active.after] + (idle.map { [$0.before, $0.after] } ?? [])
        let step = Self.levelStep(readings)
        let observed = String(format: "battery level %.0f%% -> %.0f%% over %.0f s of %d inferences (steps of %.0f%%)",
                              (active.before.level ?? 0) * 100, (active.after.level ?? 0) * 100,
                              active.durationS, inferences, step * 100)
        if active.pluggedIn || (idle?.pluggedIn ?? false) {
            return .unavailable("plugged in: the battery level does not measure the phone's draw on external power; \(observed)")
        }
        guard let capacityWh, capacityWh > 0 else {
            return .unavailable("iOS has no public power API and does not expose the battery capacity; enter it (Wh) in the app for a coarse battery-level figure; \(observed)")
        }
        guard inferences > 0, active.durationS > 0 else {
            return .unavailable("no inferences were timed; \(observed)")
        }
        let steps = Int((activeDrop / step).rounded())
        guard steps >= minSteps else {
            return .unavailable("too coarse: the battery level fell \(steps) step(s) of \(Int(step * 100))%, fewer than \(minSteps); run longer (min_seconds of 30+ minutes); \(observed)")
        }
        guard let idle, let idleDrop = idle.drop, idle.durationS > 0 else {
            return .unavailable("no idle baseline measured the same way (set idle_baseline_seconds to a similar length as the run); whole-phone drain only; \(observed)")
        }
        let joulesPerLevel = capacityWh * 3600
        let quantSe = step / 6.0.squareRoot() * joulesPerLevel
        let activePower = activeDrop * joulesPerLevel / active.durationS
        let idlePower = idleDrop * joulesPerLevel / idle.durationS
        let per: EnergyMath.PerInference
        do {
            per = try EnergyMath.perInference(activePowerW: activePower, activeSeW: quantSe / active.durationS,
                                              activeDurationS: active.durationS, idlePowerW: idlePower,
                                              idleSeW: quantSe / idle.durationS, runs: inferences)
        } catch {
            return .unavailable("\(error); \(observed)")
        }
        let capacityTerm = abs(per.energyMj) * capacityRelUncertainty
        let uncertainty = hypot(per.uncertaintyMj, capacityTerm)
        // A figure within two standard errors of zero measured nothing: no number, and the reason says so.
        guard abs(per.energyMj) >= 2 * uncertainty else {
            return .unavailable(String(format: "not resolved: %.3g +- %.3g mJ per inference is within two standard errors of zero (run longer); ", per.energyMj, uncertainty)
                                + "whole-phone battery level in \(Int(step * 100))% steps, idle subtracted; \(observed)")
        }
        return EnergyResult(
            status: "measured", method: "battery_level_delta",
            reason: "coarse: whole-phone battery level in \(Int(step * 100))% steps, idle subtracted, capacity \(capacityWh) Wh entered by the user (wear unknown, +-\(Int(capacityRelUncertainty * 100))%); \(observed)",
            source: source, energyMj: per.energyMj, uncertaintyMj: uncertainty, powerW: per.powerW,
            idlePowerW: per.idlePowerW, netPowerW: per.netPowerW,
            modelParameters: [
                "battery_capacity_wh": .double(capacityWh),
                "capacity_rel_uncertainty": .double(capacityRelUncertainty),
                "level_step": .double(step),
                "active_level_before": .number(active.before.level),
                "active_level_after": .number(active.after.level),
                "active_duration_s": .double(active.durationS),
                "idle_level_before": .number(idle.before.level),
                "idle_level_after": .number(idle.after.level),
                "idle_duration_s": .double(idle.durationS),
                "inferences": .int(inferences),
            ])
    }
}

/// The results' `energy` object.
public struct EnergyResult: Equatable, Sendable {
    public var status: String
    public var method: String
    public var reason: String?
    public var source: String?
    public var energyMj: Double?
    public var uncertaintyMj: Double?
    public var powerW: Double?
    public var idlePowerW: Double?
    public var netPowerW: Double?
    public var modelParameters: [String: JSON]?

    public static func unavailable(_ reason: String) -> EnergyResult {
        EnergyResult(status: "unavailable", method: "none", reason: reason)
    }

    public var json: JSON {
        var o: [String: JSON] = ["status": .string(status), "method": .string(method), "reason": .string(reason)]
        if status != "unavailable" {
            o["source"] = .string(source)
            o["energy_mj"] = .number(energyMj)
            o["uncertainty_mj"] = .number(uncertaintyMj)
            o["power_w"] = .number(powerW)
            o["idle_power_w"] = .number(idlePowerW)
            o["net_power_w"] = .number(netPowerW)
        }
        if let modelParameters { o["model_parameters"] = .object(modelParameters) }
        return .object(o)
    }
}
