/// A PDQ perceptual hash: 256 bits (Meta's open image hash). Two images whose hashes lie within 31 bits of each
/// other are treated as copies (PDQ's authors' recommendation; `PDQHash.matchDistance`).
///
/// Bit order is the reference implementation's: bit 255 is the first hex digit's high bit, bit 0 the last digit's
/// low bit, so `hex` reads like `pdq-photo-hasher` and ThreatExchange hash lists. Stored as four 64-bit words,
/// `words.0` holding bits 255…192.
public struct PDQHash: Hashable, Sendable, CustomStringConvertible {
    public var words: (UInt64, UInt64, UInt64, UInt64)

    /// The recommended match distance, inclusive.
    public static let matchDistance = 31
    /// Hashes of lower quality (0-100) are too flat to match on (PDQ's authors' recommendation).
    public static let minimumQuality = 50
    public static let zero = PDQHash(words: (0, 0, 0, 0))

    public init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    /// Parses 64 hex digits (either case), bit 255 first; nil for anything else.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var out: [UInt64] = [0, 0, 0, 0]
        for (index, byte) in utf8.enumerated() {
            let nibble: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = UInt64(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            out[index / 16] = out[index / 16] << 4 | nibble
        }
        words = (out[0], out[1], out[2], out[3])
    }

    /// Builds a hash from its bits: `bit(i)` for i in 0..<256.
    public init(bits bit: (Int) -> Bool) {
        var out: [UInt64] = [0, 0, 0, 0]
        for i in 0..<256 where bit(i) { out[3 - i / 64] |= 1 << UInt64(i % 64) }
        words = (out[0], out[1], out[2], out[3])
    }

    public subscript(bit i: Int) -> Bool {
        precondition((0..<256).contains(i), "a PDQ hash has bits 0 to 255")
        let word: UInt64
        switch 3 - i / 64 {
        case 0: word = words.0
        case 1: word = words.1
        case 2: word = words.2
        default: word = words.3
        }
        return word >> UInt64(i % 64) & 1 == 1
    }

    /// 64 lower-case hex digits, bit 255 first.
    public var hex: String {
        var text = ""
        text.reserveCapacity(64)
        for word in [words.0, words.1, words.2, words.3] {
            let digits = String(word, radix: 16)
            text += String(repeating: "0", count: 16 - digits.count) + digits
        }
        return text
    }

    public var description: String { hex }

    /// Hamming distance: how many of the 256 bits differ.
    @inline(__always)
    public func distance(to other: PDQHash) -> Int {
        (words.0 ^ other.words.0).nonzeroBitCount + (words.1 ^ other.words.1).nonzeroBitCount
            + (words.2 ^ other.words.2).nonzeroBitCount + (words.3 ^ other.words.3).nonzeroBitCount
    }

    /// The i-th of the hash's sixteen 16-bit pieces (0: bits 255…240), the keys of a multi-index hash table.
    @inline(__always)
    public func piece(_ i: Int) -> UInt16 {
        let word: UInt64
        switch i / 4 {
        case 0: word = words.0
        case 1: word = words.1
        case 2: word = words.2
        default: word = words.3
        }
        return UInt16(truncatingIfNeeded: word >> UInt64(48 - 16 * (i % 4)))
    }

    public static func == (a: PDQHash, b: PDQHash) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// An image's PDQ hash and its quality (0-100: how much detail the hash stands on; below 50 it is not matched).
public struct ImageSignature: Hashable, Sendable {
    public var hash: PDQHash
    public var quality: Int
    /// The hashes of the image's seven other orientations (`Dihedral.rotate90` on, in that order) when Winnow
    /// decoded the image itself; empty for a hash a feed sent. A rotated or mirrored copy lies about 128 bits from
    /// the plain hash but within a few bits of one of these, so matching looks at all eight.
    public var orientations: [PDQHash]

    public init(hash: PDQHash, quality: Int, orientations: [PDQHash] = []) {
        self.hash = hash
        self.quality = quality
        self.orientations = orientations
    }

    public var isMatchable: Bool { quality >= PDQHash.minimumQuality }

    /// The hash of the image in orientation `form`; nil for a turned or mirrored one it does not carry.
    public subscript(form: Dihedral) -> PDQHash? {
        form == .original ? hash : orientations.indices.contains(form.rawValue - 1) ? orientations[form.rawValue - 1] : nil
    }

    /// The plain hash and every orientation's, each with the orientation it stands for.
    public var orientedHashes: some Sequence<(PDQHash, Dihedral)> {
        zip([hash] + orientations, Dihedral.allCases)
    }

    /// The smallest distance from `other` to any orientation of this image, and that orientation.
    public func closest(to other: PDQHash) -> (distance: Int, orientation: Dihedral) {
        var best = (distance: hash.distance(to: other), orientation: Dihedral.original)
        for (candidate, form) in orientedHashes.dropFirst() {
            let distance = candidate.distance(to: other)
            if distance < best.distance { best = (distance, form) }
        }
        return best
    }

    /// The signature as a bank entry keeps it: the plain hash and quality.
    public var plain: ImageSignature { ImageSignature(hash: hash, quality: quality) }
}

/// The eight rotations and mirror images of a picture, in the order of PDQ's reference dihedral hashes. Coded by
/// its name.
public enum Dihedral: Int, CaseIterable, Sendable, Codable {
    case original, rotate90, rotate180, rotate270, flipX, flipY, flipPlus1, flipMinus1

    /// The orientation's name in the API: `rotate90`, `flipX`, ...
    public var name: String { String(describing: self) }

    public init?(name: String) {
        guard let form = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = form
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let name = try c.decode(String.self)
        guard let form = Self(name: name) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(name)' is not an orientation (\(Self.allCases.map(\.name).joined(separator: ", ")))")
        }
        self = form
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }

    /// The orientation that undoes this one: a quarter turn one way and three the other; every mirror is its own.
    public var inverse: Dihedral {
        switch self {
        case .rotate90: return .rotate270
        case .rotate270: return .rotate90
        default: return self
        }
    }

    /// "rotated 90°", "mirrored left to right": how a reviewer reads it.
    public var phrase: String {
        switch self {
        case .original: return "as is"
        case .rotate90: return "rotated 90°"
        case .rotate180: return "rotated 180°"
        case .rotate270: return "rotated 270°"
        case .flipX: return "mirrored top to bottom"
        case .flipY: return "mirrored left to right"
        case .flipPlus1: return "mirrored across the diagonal"
        case .flipMinus1: return "mirrored across the anti-diagonal"
        }
    }
}

/// One sampled frame of a video, hashed with PDQ (the vPDQ manner).
public struct VideoFrameSignature: Hashable, Sendable {
    public var frame: Int
    public var seconds: Double
    public var hash: PDQHash
    public var quality: Int

    public init(frame: Int, seconds: Double, hash: PDQHash, quality: Int) {
        self.frame = frame
        self.seconds = seconds
        self.hash = hash
        self.quality = quality
    }
}
