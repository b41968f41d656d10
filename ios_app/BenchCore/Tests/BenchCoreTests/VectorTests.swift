import Foundation
import XCTest
@testable import BenchCore

/// The Swift port against schemas/vectors (the same files the Python and Kotlin code are tested on).
final class VectorTests: XCTestCase {
    func testStatsVectors() throws {
        let (tol, cases) = try loadVectors("stats.json")
        for c in cases {
            let name = c["name"]?.stringValue ?? "?"
            let samples = try XCTUnwrap(c["samples_ms"]?.arrayValue?.compactMap(\.doubleValue))
            let s = LatencyStats(samplesMs: samples, cvMax: c["cv_max"]?.doubleValue ?? 0.1,
                                 driftMax: c["drift_max"]?.doubleValue ?? 0.05)
            let e = try XCTUnwrap(c["expected"])
            XCTAssertEqual(s.runs, e["runs"]?.intValue, name)
            assertClose(s.minMs, e["min_ms"], tol: tol, "\(name) min")
            assertClose(s.medianMs, e["median_ms"], tol: tol, "\(name) median")
            assertClose(s.meanMs, e["mean_ms"], tol: tol, "\(name) mean")
            assertClose(s.p90Ms, e["p90_ms"], tol: tol, "\(name) p90")
            assertClose(s.p99Ms, e["p99_ms"], tol: tol, "\(name) p99")
            assertClose(s.maxMs, e["max_ms"], tol: tol, "\(name) max")
            assertClose(s.stdMs, e["std_ms"], tol: tol, "\(name) std")
            assertClose(s.trimmedMeanMs, e["trimmed_mean_ms"], tol: tol, "\(name) trimmed mean")
            assertClose(s.cv, e["cv"], tol: tol, "\(name) cv")
            assertClose(s.drift, e["drift"], tol: tol, "\(name) drift")
            XCTAssertEqual(s.stable, e["stable"]?.boolValue, "\(name) stable")
        }
    }

    func testScheduleVectors() throws {
        let (tol, cases) = try loadVectors("schedule.json")
        for c in cases {
            let name = c["name"]?.stringValue ?? "?"
            let proto = try BenchProtocol(json: try XCTUnwrap(c["protocol"]))
            let steps = try XCTUnwrap(c["run_seconds"]?.arrayValue?.compactMap(\.doubleValue))
            let clock = FakeClock()
            var i = 0
            let step = { clock.t += steps[i % steps.count]; i += 1 }
            let runner = ProtocolRunner(proto, clock: clock)
            let first = runner.time(step)
            let warm = try runner.warmUp(step)
            let timed = runner.timed(step)
            let e = try XCTUnwrap(c["expected"])
            assertClose(first, e["first_ms"], tol: tol, "\(name) first_ms")
            XCTAssertEqual(warm.runs, e["warmup_runs"]?.intValue, "\(name) warmup_runs")
            XCTAssertEqual(timed.samplesMs.count, e["runs"]?.intValue, "\(name) runs")
            assertClose(timed.durationS, e["duration_s"], tol: tol, "\(name) duration_s")
        }
    }

    func testEnergyVectors() throws {
        let (tol, cases) = try loadVectors("energy.json")
        var kinds = Set<String>()
        for c in cases {
            let name = c["name"]?.stringValue ?? "?"
            let kind = try XCTUnwrap(c["kind"]?.stringValue)
            kinds.insert(kind)
            let e = try XCTUnwrap(c["expected"])
            func nums(_ j: JSON?, _ key: String) throws -> [Double] {
                try XCTUnwrap(j?[key]?.arrayValue?.compactMap(\.doubleValue), "\(name).\(key)")
            }
            switch kind {
            case "power", "counter":
                let t = try nums(c, "t_s")
                let s = kind == "power"
                    ? try EnergyMath.integratePower(timesS: t, powerW: try nums(c, "power_w"))
                    : try EnergyMath.integrateCounter(timesS: t, counterUJ: try nums(c, "counter_uj"),
                                                      maxRangeUJ: c["max_range_uj"]?.doubleValue)
                assertClose(s.energyJ, e["energy_j"], tol: tol, "\(name) energy_j")
                assertClose(s.durationS, e["duration_s"], tol: tol, "\(name) duration_s")
                assertClose(s.meanPowerW, e["mean_power_w"], tol: tol, "\(name) mean_power_w")
                assertClose(s.standardErrorW, e["standard_error_w"], tol: tol, "\(name) standard_error_w")
                XCTAssertEqual(s.count, e["count"]?.intValue, "\(name) count")
                assertClose(s.minW, e["min_w"], tol: tol, "\(name) min_w")
                assertClose(s.maxW, e["max_w"], tol: tol, "\(name) max_w")
                assertClose(s.stdW, e["std_w"], tol: tol, "\(name) std_w")
            case "per_inference":
                let active = try EnergyMath.integratePower(timesS: try nums(c["active"], "t_s"),
                                                           powerW: try nums(c["active"], "power_w"))
                let idle = try EnergyMath.integratePower(timesS: try nums(c["idle"], "t_s"),
                                                         powerW: try nums(c["idle"], "power_w"))
                let r = try EnergyMath.perInference(active: active, idle: idle, runs: try XCTUnwrap(c["runs"]?.intValue))
                assertClose(r.energyMj, e["energy_mj"], tol: tol, "\(name) energy_mj")
                assertClose(r.uncertaintyMj, e["uncertainty_mj"], tol: tol, "\(name) uncertainty_mj")
                assertClose(r.powerW, e["power_w"], tol: tol, "\(name) power_w")
                assertClose(r.idlePowerW, e["idle_power_w"], tol: tol, "\(name) idle_power_w")
                assertClose(r.netPowerW, e["net_power_w"], tol: tol, "\(name) net_power_w")
            default:
                XCTFail("\(name): unknown energy vector kind '\(kind)'")
            }
        }
        XCTAssertEqual(kinds, ["power", "counter", "per_inference"])
    }
}
