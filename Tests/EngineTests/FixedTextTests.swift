import Foundation
import Learning
import Testing

@testable import Engine

@Suite struct FixedTextTests {
    /// The same text as `String(format:)` (C's printf): exact binary values rounded to nearest, ties to even.
    @Test func matchesPrintfOnEdgesAndRandomValues() {
        var values: [Double] = [0, 1, 0.5, 1.5, 2.5, 0.125, 0.375, 0.0625, 0.0005, 0.0015, 0.9995, 0.999_999_9, 0.970, 0.03, 1e-320,
                                .leastNonzeroMagnitude, .leastNormalMagnitude, 123_456.785, 999_999_999.9995, 1e9, 3e12, -0.0, -0.25, .infinity, .nan]
        var random = SplitMix64(seed: 7)
        for _ in 0..<20_000 {
            let unit = Double(random.next() >> 11) / Double(1 << 53)
            values.append(unit)
            values.append((unit * 2_000).rounded() / 2_000)  // many exact and near ties at the third place
            values.append(unit * Double(random.next() % 1_000_000))
        }
        for x in values {
            for places in 0...3 {
                #expect(FixedText.format(x, places: places) == String(format: "%.\(places)f", x), "\(x) to \(places) places")
            }
        }
    }
}
