import Foundation

/// Statistics of the timed runs, with the definitions of schemas/README.md (shared with the host
/// runner and the Android app through schemas/vectors/stats.json):
/// - percentiles: linear interpolation between closest ranks (numpy's default), p in [0, 100];
/// - std: sample standard deviation (n - 1; 0 for n < 2); cv = std / mean (0 when mean is 0);
/// - trimmed mean: mean of the middle 80%, floor(n / 10) dropped at each end;
/// - drift: (median of the last third - median of the first third) / median, thirds of floor(n / 3)
///   samples in run order (nil for n < 3, 0 when the median is 0);
/// - stable: n >= 3 and cv <= cvMax and |drift| <= driftMax.
public struct LatencyStats: Equatable, Sendable {
    public var runs: Int
    public var minMs: Double?
    public var medianMs: Double?
    public var meanMs: Double?
    public var p90Ms: Double?
    public var p99Ms: Double?
    public var maxMs: Double?
    public var stdMs: Double?
    public var trimmedMeanMs: Double?
    public var cv: Double?
    public var drift: Double?
    public var stable: Bool
    public var cvMax: Double
    public var driftMax: Double

    /// `samplesMs` in run order (drift needs the order).
    public init(samplesMs: [Double], cvMax: Double = 0.1, driftMax: Double = 0.05) {
        self.runs = samplesMs.count
        self.cvMax = cvMax
        self.driftMax = driftMax
        let sorted = samplesMs.sorted()
        guard let first = sorted.first, let last = sorted.last else {
            stable = false
            return
        }
        minMs = first
        maxMs = last
        medianMs = Self.percentile(sorted: sorted, 50)
        p90Ms = Self.percentile(sorted: sorted, 90)
        p99Ms = Self.percentile(sorted: sorted, 99)
        let mean = Self.mean(samplesMs)
        meanMs = mean
        var std = 0.0
        if samplesMs.count >= 2 {
            let ss = samplesMs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            std = (ss / Double(samplesMs.count - 1)).squareRoot()
        }
        stdMs = std
        let cv = mean > 0 ? std / mean : 0
        self.cv = cv
        let cut = sorted.count / 10
        trimmedMeanMs = Self.mean(Array(sorted[cut..<(sorted.count - cut)]))
        drift = Self.drift(samplesMs)
        if samplesMs.count >= 3, let drift, cv <= cvMax, abs(drift) <= driftMax {
            stable = true
        } else {
            stable = false
        }
    }

    /// Linear interpolation between closest ranks on sorted data: rank = p / 100 * (n - 1).
    public static func percentile(sorted: [Double], _ p: Double) -> Double {
        precondition(!sorted.isEmpty, "percentile of no samples")
        let rank = p / 100 * Double(sorted.count - 1)
        let lo = Int(rank.rounded(.down))
        let hi = min(lo + 1, sorted.count - 1)
        let frac = rank - Double(lo)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * frac
    }

    /// Median of a sample in any order.
    public static func median(_ values: [Double]) -> Double {
        percentile(sorted: values.sorted(), 50)
    }

    static func mean(_ values: [Double]) -> Double {
        // Kahan-free but ordered summation: the sample counts here are small (thousands at most).
        values.reduce(0, +) / Double(values.count)
    }

    /// nil with fewer than 3 samples (no thirds); 0 for a zero median.
    public static func drift(_ samplesInOrder: [Double]) -> Double? {
        let third = samplesInOrder.count / 3
        guard third >= 1 else { return nil }
        let overall = median(samplesInOrder)
        guard overall != 0 else { return 0 }
        let head = median(Array(samplesInOrder.prefix(third)))
        let tail = median(Array(samplesInOrder.suffix(third)))
        return (tail - head) / overall
    }
}
