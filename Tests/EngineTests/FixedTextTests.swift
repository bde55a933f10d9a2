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

/// Outside testing: Foundation's ISO 8601 parser rolled impossible fields over (`2026-02-30` read as 2 March, `11:99`
/// as 12:39) where the API promises strict bodies. Every field is checked against its range first.
@Suite struct ISOTimeTests {
    @Test(arguments: ["2026-02-30T10:00:00Z", "2026-12-06T11:99:00Z", "2026-12-06T12:36:75Z", "2026-12-06T24:00:00Z", "2026-13-01T00:00:00Z",
                      "2026-00-10T00:00:00Z", "2026-04-31T00:00:00Z", "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-12-06T10:00:00+24:00",
                      "2026-12-06T10:00:00+01:60", "2026-12-06T10:00:00.Z", "2026-12-06T10:00:00", "2026-12-06", "2026-12-06T10:00Z",
                      "2026-12-06T10:00:00Zjunk", "2026-1-06T10:00:00Z", ""])
    func impossibleOrMalformedTimesAreRefused(_ text: String) {
        #expect(ISOTime.parse(text) == nil, "\(text)")
    }

    @Test func validTimesAreRead() throws {
        #expect(ISOTime.parse("2024-02-29T23:59:59Z") == Date(timeIntervalSince1970: 1_709_251_199))
        #expect(ISOTime.parse("2000-02-29T00:00:00Z") != nil)
        #expect(ISOTime.parse("2026-12-06T10:00:00.250Z") == Date(timeIntervalSince1970: 1_796_551_200.25))
        #expect(ISOTime.parse("2026-12-06T11:30:00+01:30") == Date(timeIntervalSince1970: 1_796_551_200))
        #expect(ISOTime.parse("2026-12-06T08:00:00-02:00") == Date(timeIntervalSince1970: 1_796_551_200))
        #expect(ISOTime.parse(ISOTime.format(Date(timeIntervalSince1970: 1_796_551_200))) == Date(timeIntervalSince1970: 1_796_551_200))
    }
}
