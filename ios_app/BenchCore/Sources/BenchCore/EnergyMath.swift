import Foundation

/// Energy arithmetic shared with the host runner and the Android app (schemas/README.md,
/// schemas/vectors/energy.json). iOS itself gives no power samples; this code integrates power
/// traces exported from Xcode Instruments (see ios_app/README.md) and turns the battery-level
/// readings into the same per-inference figures.
public struct TraceSummary: Equatable, Sendable {
    public var energyJ: Double
    public var durationS: Double
    /// Interval (or sample) powers the statistics are taken over.
    public var samplesW: [Double]

    public var meanPowerW: Double { durationS > 0 ? energyJ / durationS : 0 }
    public var count: Int { samplesW.count }
    public var minW: Double? { samplesW.min() }
    public var maxW: Double? { samplesW.max() }

    /// Sample standard deviation (n - 1; 0 for n < 2).
    public var stdW: Double {
        guard samplesW.count > 1 else { return 0 }
        let mean = samplesW.reduce(0, +) / Double(samplesW.count)
        let ss = samplesW.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (ss / Double(samplesW.count - 1)).squareRoot()
    }

    /// Standard error of the mean power: std / sqrt(n) (0 for n < 2).
    public var standardErrorW: Double {
        guard samplesW.count > 1 else { return 0 }
        return stdW / Double(samplesW.count).squareRoot()
    }
}

public enum EnergyMath {
    /// Trapezoid integral of power samples (W) at times (s).
    public static func integratePower(timesS: [Double], powerW: [Double]) throws -> TraceSummary {
        guard timesS.count == powerW.count, timesS.count >= 2 else {
            throw BenchError.badInput("a power trace needs at least two (time, power) samples of equal count")
        }
        var energy = 0.0
        for i in 1..<timesS.count {
            let dt = timesS[i] - timesS[i - 1]
            guard dt >= 0 else { throw BenchError.badInput("power trace times go backwards at sample \(i)") }
            energy += (powerW[i] + powerW[i - 1]) / 2 * dt
        }
        return TraceSummary(energyJ: energy, durationS: timesS.last! - timesS.first!, samplesW: powerW)
    }

    /// Cumulative energy counter (uJ): sum of deltas, a negative delta adds `maxRangeUJ` (wrap);
    /// the interval powers are the samples.
    public static func integrateCounter(timesS: [Double], counterUJ: [Double], maxRangeUJ: Double?) throws -> TraceSummary {
        guard timesS.count == counterUJ.count, timesS.count >= 2 else {
            throw BenchError.badInput("a counter trace needs at least two (time, counter) readings of equal count")
        }
        var total = 0.0
        var powers: [Double] = []
        for i in 1..<timesS.count {
            var d = counterUJ[i] - counterUJ[i - 1]
            if d < 0 { d += maxRangeUJ ?? 0 }
            let dt = timesS[i] - timesS[i - 1]
            guard dt > 0 else { throw BenchError.badInput("counter trace times must increase (reading \(i))") }
            total += d
            powers.append(d * 1e-6 / dt)
        }
        return TraceSummary(energyJ: total * 1e-6, durationS: timesS.last! - timesS.first!, samplesW: powers)
    }

    /// Per-inference energy above idle: (P_active - P_idle) * active_duration / runs, in mJ, with
    /// the standard errors of both means combined.
    public struct PerInference: Equatable, Sendable {
        public var energyMj: Double
        public var uncertaintyMj: Double
        public var powerW: Double
        public var idlePowerW: Double
        public var netPowerW: Double
    }

    public static func perInference(activePowerW: Double, activeSeW: Double, activeDurationS: Double,
                                    idlePowerW: Double, idleSeW: Double, runs: Int) throws -> PerInference {
        guard runs > 0 else { throw BenchError.badInput("energy per inference needs at least one run") }
        let net = activePowerW - idlePowerW
        let scale = activeDurationS / Double(runs) * 1000
        return PerInference(energyMj: net * scale, uncertaintyMj: hypot(activeSeW, idleSeW) * scale,
                            powerW: activePowerW, idlePowerW: idlePowerW, netPowerW: net)
    }

    public static func perInference(active: TraceSummary, idle: TraceSummary, runs: Int) throws -> PerInference {
        try perInference(activePowerW: active.meanPowerW, activeSeW: active.standardErrorW,
                         activeDurationS: active.durationS, idlePowerW: idle.meanPowerW,
                         idleSeW: idle.standardErrorW, runs: runs)
    }
}
