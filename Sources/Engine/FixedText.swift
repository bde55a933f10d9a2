import Foundation

/// Numbers in fixed notation for the reasons people read ("spam 0.991 ≥ remove cut-off 0.970"): the same text
/// as `String(format: "%.Nf", x)`, which cost about a microsecond a call in Foundation, for every decision.
public enum FixedText {
    /// `x` with `places` digits after the point, rounded as C's `printf` rounds (the exact binary value to nearest,
    /// ties to even). Values outside [0, 1e9), non-finite ones and more than 3 places go through `String(format:)`.
    public static func format(_ x: Double, places: Int) -> String {
        guard x.isFinite, x >= 0, x < 1e9, (0...3).contains(places), x.sign == .plus else {
            return String(format: "%.\(places)f", x)
        }
        var scale: UInt64 = 1
        for _ in 0..<places { scale *= 10 }
        // x = m × 2^e exactly (m < 2^53; e < 0 because x < 1e9 < 2^52), so x × scale = n × 2^e with n = m × scale
        // < 2^63, rounded here to the integer q.
        let m = x.significandBitPattern | (x.isNormal ? 1 << 52 : 0)
        let e = Int(x.isNormal ? x.exponentBitPattern : 1) - 1075
        let n = m * scale
        var q: UInt64
        if -e >= 64 {
            q = 0  // x × scale < 2^63 × 2^-64 = 1/2: rounds down
        } else {
            let shift = UInt64(-e)
            q = n >> shift
            let remainder = n & ((1 << shift) - 1)
            let half: UInt64 = 1 << (shift - 1)
            if remainder > half || (remainder == half && q & 1 == 1) { q += 1 }
        }
        var text = String(q / scale)
        if places > 0 {
            let fraction = String(q % scale)
            text += "." + String(repeating: "0", count: places - fraction.utf8.count) + fraction
        }
        return text
    }
}
