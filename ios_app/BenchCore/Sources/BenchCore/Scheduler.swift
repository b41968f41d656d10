import Foundation

/// Monotonic time in seconds, and sleeping. The app uses `SystemClock`; tests use a fake clock that
/// advances by scripted latencies, so the schedule is checked exactly and instantly.
public protocol BenchClock: AnyObject {
    func now() -> Double
    func sleep(seconds: Double)
}

/// Wall-clock-independent monotonic time (`DispatchTime.uptimeNanoseconds`), which NTP cannot step.
public final class SystemClock: BenchClock {
    public init() {}

    public func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    public func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        Thread.sleep(forTimeInterval: seconds)
    }
}

/// Why the timed phase ended.
public enum StopReason: String, Sendable {
    case minReached = "min_reached"
    case maxRuns = "max_runs"
    case maxSeconds = "max_seconds"
    case cancelled
    case error
}

public struct WarmupResult: Equatable, Sendable {
    public var runs: Int
    public var seconds: Double
}

public struct TimedResult: Equatable, Sendable {
    public var samplesMs: [Double]
    public var durationS: Double
    public var stop: StopReason
    /// The failure that ended the phase early (`stop == .error`), kept for the results' `error`.
    public var error: String?
}

/// Runs one inference step under the shared protocol: warm-up until both its run count and its
/// duration are met, then timed runs until both the minimum count and minimum duration are met,
/// or a maximum is hit. `shouldStop` lets the app end a run early (user cancel, app backgrounded):
/// what was measured is kept and the results are marked partial.
public struct ProtocolRunner {
    public let benchProtocol: BenchProtocol
    public let clock: BenchClock
    public let shouldStop: () -> Bool

    public init(_ benchProtocol: BenchProtocol, clock: BenchClock, shouldStop: @escaping () -> Bool = { false }) {
        self.benchProtocol = benchProtocol
        self.clock = clock
        self.shouldStop = shouldStop
    }

    /// Times one call in milliseconds.
    public func time(_ body: () throws -> Void) rethrows -> Double {
        let t0 = clock.now()
        try body()
        return (clock.now() - t0) * 1000
    }

    public func warmUp(_ step: () throws -> Void) throws -> WarmupResult {
        let start = clock.now()
        var runs = 0
        while !shouldStop() {
            let elapsed = clock.now() - start
            if runs >= benchProtocol.warmupRuns && elapsed >= benchProtocol.warmupSeconds { break }
            try step()
            runs += 1
        }
        return WarmupResult(runs: runs, seconds: clock.now() - start)
    }

    public func timed(_ step: () throws -> Void) -> TimedResult {
        let p = benchProtocol
        let start = clock.now()
        var samples: [Double] = []
        samples.reserveCapacity(max(p.minRuns, 16))
        var stop = StopReason.minReached
        var failure: String?
        while true {
            let elapsed = clock.now() - start
            if let maxRuns = p.maxRuns, samples.count >= maxRuns { stop = .maxRuns; break }
            if let maxSeconds = p.maxSeconds, elapsed >= maxSeconds { stop = .maxSeconds; break }
            if samples.count >= p.minRuns && elapsed >= p.minSeconds { stop = .minReached; break }
            if shouldStop() { stop = .cancelled; break }
            let t0 = clock.now()
            do {
                try step()
            } catch {
                stop = .error
                failure = "inference \(samples.count + 1) failed: \(error)"
                break
            }
            samples.append((clock.now() - t0) * 1000)
        }
        return TimedResult(samplesMs: samples, durationS: clock.now() - start, stop: stop, error: failure)
    }

    /// Idle time before a model, so each starts from a similar thermal state.
    public func coolDown() {
        clock.sleep(seconds: benchProtocol.cooldownSeconds)
    }
}
