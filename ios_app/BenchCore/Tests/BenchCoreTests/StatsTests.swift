import XCTest
@testable import BenchCore

final class StatsTests: XCTestCase {
    func testBasic() {
        let s = LatencyStats(samplesMs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        XCTAssertEqual(s.medianMs, 5.5)
        XCTAssertEqual(s.trimmedMeanMs, 5.5)
    }
}
