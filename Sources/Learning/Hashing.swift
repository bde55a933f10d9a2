/// MurmurHash3 (x86, 32-bit) by Austin Appleby, public-domain algorithm, written here from its specification.
///
/// Winnow's feature hash. It is fixed forever for a featurizer version: changing it changes every
/// bucket of every model, so a new hash means a new `Featurizer.version`.
@inline(__always)
func murmur3(_ bytes: UnsafeBufferPointer<UInt8>, seed: UInt32) -> UInt32 {
    let c1: UInt32 = 0xcc9e_2d51
    let c2: UInt32 = 0x1b87_3593
    var h = seed
    let count = bytes.count
    let blocks = count / 4
    var i = 0
    while i < blocks {
        let b = i &* 4
        var k = UInt32(bytes[b]) | UInt32(bytes[b &+ 1]) << 8 | UInt32(bytes[b &+ 2]) << 16 | UInt32(bytes[b &+ 3]) << 24
        k = k &* c1
        k = (k << 15) | (k >> 17)
        k = k &* c2
        h ^= k
        h = (h << 13) | (h >> 19)
        h = h &* 5 &+ 0xe654_6b64
        i &+= 1
    }
    var k: UInt32 = 0
    let tail = blocks &* 4
    switch count & 3 {
    case 3:
        k ^= UInt32(bytes[tail &+ 2]) << 16
        fallthrough
    case 2:
        k ^= UInt32(bytes[tail &+ 1]) << 8
        fallthrough
    case 1:
        k ^= UInt32(bytes[tail])
        k = k &* c1
        k = (k << 15) | (k >> 17)
        k = k &* c2
        h ^= k
    default:
        break
    }
    h ^= UInt32(truncatingIfNeeded: count)
    return fmix32(h)
}

/// MurmurHash3's finaliser: a bijective avalanche on 32 bits.
@inline(__always)
func fmix32(_ value: UInt32) -> UInt32 {
    var h = value
    h ^= h >> 16
    h = h &* 0x85eb_ca6b
    h ^= h >> 13
    h = h &* 0xc2b2_ae35
    h ^= h >> 16
    return h
}

/// Hash of an ordered pair of hashes (word bigrams): `fmix32(a &* 0x9E3779B1 ^ b ^ seed)`.
@inline(__always)
func combineHashes(_ a: UInt32, _ b: UInt32, seed: UInt32) -> UInt32 {
    fmix32((a &* 0x9E37_79B1) ^ b ^ (seed &* 0x85eb_ca6b))
}

/// Public entry point for hashing a string with Winnow's feature hash (tests and tools).
public func winnowHash(_ text: String, seed: UInt32) -> UInt32 {
    var s = text
    return s.withUTF8 { murmur3($0, seed: seed) }
}

/// FNV-1a, 64-bit: a digest stable across runs and platforms (unlike `Hasher`), for identity checks (training data,
/// item content) and deterministic sampling, never for security.
public struct FNV1a64: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}

    /// Adds a field: its UTF-8 bytes and a 0xFF separator (no UTF-8 byte), so ("ab", "c") ≠ ("a", "bc"). Item
    /// digests and audit draws are stored, so this encoding never changes.
    public mutating func add(_ string: String) {
        update(string.utf8)
        update(CollectionOfOne(UInt8(0xFF)))
    }

    /// A number in [0, 1) drawn from the digest, for deterministic sampling. FNV-1a's high bits barely move when only
    /// the last character changes ("item-71", "item-72"), so the digest goes through SplitMix64's finalizer first.
    public var uniform: Double {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        z ^= z >> 31
        return Double(z >> 11) / Double(UInt64(1) << 53)
    }

    public mutating func update<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        var h = value
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        value = h
    }
    /// Adds a string with a 0 separator (the training-data digest's encoding).
    public mutating func update(_ string: String) {
        update(string.utf8)
        update(CollectionOfOne(UInt8(0)))
    }
    public var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the model file's checksum.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
