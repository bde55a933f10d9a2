import Foundation

/// A near-duplicate signature of a text: MinHash over the same normalised tokens the classifier sees, so the
/// obfuscations the tokenizer undoes (`fr€e m0ney`, `c l i c k`, zero-width characters, look-alike letters,
/// full-width forms, repeated letters, case) give the same signature, and a few words changed give a close one.
///
/// The set a signature summarises: the text's word tokens and its word bigrams (tag tokens such as `<url>` count as
/// words, so a reworded scam with another link still shares most of its set). The estimate of two texts' Jaccard
/// similarity is the share of the `count` minimum hashes they agree on; `matchSimilarity` (0.5) is where two texts
/// count as copies. Texts of fewer than `minimumTokens` tokens get no signature: "thank you" would match every
/// other "thank you".
///
/// Chosen over SimHash by measurement on the shared sets (`winnow bench signatures`, BENCHMARKS.md): at equal
/// false matches between unrelated posts, MinHash keeps far more of the reworded copies, since one changed word in
/// a short post flips a SimHash's bits wholesale but moves only two or three of its set's members.
///
/// Each of the `count` values is one byte (the low byte of the minimum: b-bit MinHash), so a signature is 64
/// bytes and a million take 64 MB; two unrelated texts still agree on a byte by chance with probability 1/256,
/// which `similarity(to:)` corrects for. The index keys (`bandKeys`): `bands` bands of `rows` bytes each, hashed to
/// one 32-bit key per band; two texts share a band key with probability about J^rows (unrelated ones about 2⁻³²),
/// so a pair at the threshold is found with probability 1 − (1 − 0.5⁴)¹⁶ = 0.64 and one at 0.7 with 0.98 (the
/// candidates are then checked on the whole signature).
public struct TextSignature: Hashable, Sendable {
    /// The signature's bytes: `count` one-byte minima.
    public let bytes: [UInt8]

    public static let count = 64
    public static let bands = 16
    public static let rows = 4
    public static let minimumTokens = 4
    /// Estimated Jaccard similarity at or above which two texts are copies of each other.
    public static let matchSimilarity = 0.5
    /// The seed of the minima's hash family: fixed, since banks keep signatures across versions.
    public static let seed: UInt32 = 0x5eed_b411

    /// The signature of a text, or nil when it has fewer than `minimumTokens` tokens.
    public init?(text: String, tokenizer: inout Tokenizer) {
        tokenizer.tokenize(text)
        guard tokenizer.count >= Self.minimumTokens else { return nil }
        var minima = [UInt32](repeating: .max, count: Self.count)
        tokenizer.buffer.withUnsafeBufferPointer { buffer in
            var previous: UInt32?
            for t in 0..<tokenizer.count {
                let start = Int(tokenizer.starts[t]), end = Int(tokenizer.ends[t])
                let token = murmur3(UnsafeBufferPointer(rebasing: buffer[start..<end]), seed: Self.seed)
                Self.fold(token, into: &minima)
                if let previous { Self.fold(combineHashes(previous, token, seed: Self.seed), into: &minima) }
                previous = token
            }
        }
        self.bytes = minima.map { UInt8(truncatingIfNeeded: $0) }
    }

    /// A signature from its bytes (`bytes`), nil unless there are `count` of them.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.count else { return nil }
        self.bytes = bytes
    }

    /// A stored signature (`hex`: 128 hex digits).
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == Self.count * 2 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(Self.count)
        var i = 0
        while i < utf8.count {
            guard let high = Self.nibble(utf8[i]), let low = Self.nibble(utf8[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
            i += 2
        }
        self.bytes = bytes
    }

    /// Whether two signatures are of copies.
    public func matches(_ other: TextSignature) -> Bool { similarity(to: other) >= Self.matchSimilarity }

    /// The estimated Jaccard similarity of the two texts' sets (0…1), corrected for one-byte minima agreeing by
    /// chance.
    public func similarity(to other: TextSignature) -> Double {
        var equal = 0
        for i in 0..<Self.count where bytes[i] == other.bytes[i] { equal += 1 }
        return Self.similarity(equalMinima: equal)
    }

    /// The estimated Jaccard similarity of two signatures that agree on `equal` of their `count` minima: one-byte
    /// minima of unrelated texts agree by chance with probability 1/256, which this takes out.
    @inline(__always)
    public static func similarity(equalMinima equal: Int) -> Double {
        max(0, (Double(equal) / Double(count) - 1.0 / 256) / (1 - 1.0 / 256))
    }

    public var hex: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The index keys: one per band of `rows` bytes.
    public var bandKeys: [UInt32] {
        (0..<Self.bands).map { band in
            var key = UInt32(band) &* 0x9E37_79B1
            for row in 0..<Self.rows { key = combineHashes(key, UInt32(bytes[band * Self.rows + row]), seed: Self.seed) }
            return key
        }
    }

    public static func == (a: TextSignature, b: TextSignature) -> Bool { a.bytes == b.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

    /// Folds one member of the set into the running minima: the i-th hash of the family is the member's hash mixed
    /// with i (`fmix32` is a bijection, so each is a well-spread permutation of 32-bit values).
    @inline(__always)
    private static func fold(_ member: UInt32, into minima: inout [UInt32]) {
        minima.withUnsafeMutableBufferPointer { m in
            var h = member
            for i in 0..<count {
                h = fmix32(h &+ 0x9E37_79B9)
                if h < m[i] { m[i] = h }
            }
        }
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// SimHash (64 bits) over the same tokens and bigrams: the scheme `TextSignature` was measured against
/// (`winnow bench signatures`). Kept for that measurement only.
public struct SimHash64: Hashable, Sendable {
    public var value: UInt64

    public init?(text: String, tokenizer: inout Tokenizer) {
        tokenizer.tokenize(text)
        guard tokenizer.count >= TextSignature.minimumTokens else { return nil }
        var weights = [Int32](repeating: 0, count: 64)
        func add(_ h32: UInt32) {
            let h = UInt64(h32) << 32 | UInt64(fmix32(h32 ^ 0x7f4a_7c15))
            for bit in 0..<64 { weights[bit] += (h >> UInt64(bit)) & 1 == 1 ? 1 : -1 }
        }
        tokenizer.buffer.withUnsafeBufferPointer { buffer in
            var previous: UInt32?
            for t in 0..<tokenizer.count {
                let start = Int(tokenizer.starts[t]), end = Int(tokenizer.ends[t])
                let token = murmur3(UnsafeBufferPointer(rebasing: buffer[start..<end]), seed: TextSignature.seed)
                add(token)
                if let previous { add(combineHashes(previous, token, seed: TextSignature.seed)) }
                previous = token
            }
        }
        var v: UInt64 = 0
        for bit in 0..<64 where weights[bit] > 0 { v |= 1 << UInt64(bit) }
        value = v
    }

    public func distance(to other: SimHash64) -> Int { (value ^ other.value).nonzeroBitCount }
}
