import Foundation

/// How texts become hashed features. Stored in every model file and checked on load.
///
/// Features are word n-grams (orders 1…`wordNgramMax`) over the `Tokenizer`'s tokens and character n-grams
/// (orders `charNgramMin`…`charNgramMax`, counted in Unicode scalars) inside each normalised white-space chunk
/// padded with one space on each side, as scikit-learn's `char_wb` analyser does. Each feature is hashed with MurmurHash3 (x86, 32-bit):
/// a word unigram with `seed`, a character n-gram with `seed &+ 0x9E3779B9` (so the word `ab` and the
/// character bigram `ab` differ), and a word n-gram of higher order by `combineHashes` of its parts.
/// The low `bucketBits` bits of the hash pick the bucket; bit 31 gives the sign the linear model uses.
public struct FeaturizerConfig: Codable, Equatable, Hashable, Sendable {
    /// The tokenizer and hashing scheme version this build implements.
    public static let currentVersion = 1

    public var version: Int
    public var seed: UInt32
    /// log2 of the number of hash buckets, 10…24. Default 20 (1,048,576 buckets).
    public var bucketBits: Int
    /// Highest word n-gram order, 1…3. Default 2 (unigrams and bigrams).
    public var wordNgramMax: Int
    /// Character n-gram orders; `charNgramMax == 0` turns them off. Default 2…5.
    public var charNgramMin: Int
    public var charNgramMax: Int
    /// Characters repeated more than this are cut to this many. Default 3.
    public var maxRepeat: Int
    /// The logistic model reads a feature seen n times as 1 + ln n instead of n. Default true.
    public var sublinearTF: Bool
    /// L2 norm of the character block relative to the word block's 1, for the logistic model, in (0, 10].
    /// Default 0.55: words carry more weight than their many overlapping character n-grams (chosen on the
    /// shared data sets, where 0.4…0.6 did better than 1 on both).
    public var charWeight: Double

    public init(
        seed: UInt32 = 0x5749_4E4E, bucketBits: Int = 20, wordNgramMax: Int = 2, charNgramMin: Int = 2,
        charNgramMax: Int = 5, maxRepeat: Int = 3, sublinearTF: Bool = true, charWeight: Double = 0.55
    ) {
        self.sublinearTF = sublinearTF
        self.charWeight = charWeight
        self.version = FeaturizerConfig.currentVersion
        self.seed = seed
        self.bucketBits = bucketBits
        self.wordNgramMax = wordNgramMax
        self.charNgramMin = charNgramMin
        self.charNgramMax = charNgramMax
        self.maxRepeat = maxRepeat
    }

    public var bucketCount: Int { 1 << bucketBits }

    /// - Throws: `LearningError.invalidParameter` naming the first bad field.
    public func validate() throws {
        guard (10...24).contains(bucketBits) else {
            throw LearningError.invalidParameter(name: "bucketBits", value: "\(bucketBits)", expected: "an integer in 10...24")
        }
        guard (1...3).contains(wordNgramMax) else {
            throw LearningError.invalidParameter(name: "wordNgramMax", value: "\(wordNgramMax)", expected: "1, 2 or 3")
        }
        if charNgramMax != 0 {
            guard (1...8).contains(charNgramMin), (charNgramMin...8).contains(charNgramMax) else {
                throw LearningError.invalidParameter(
                    name: "charNgrams", value: "\(charNgramMin)-\(charNgramMax)",
                    expected: "MIN-MAX with 1 <= MIN <= MAX <= 8, or 0 to turn character n-grams off")
            }
        }
        guard charWeight.isFinite, charWeight > 0, charWeight <= 10 else {
            throw LearningError.invalidParameter(name: "charWeight", value: "\(charWeight)", expected: "a number in (0, 10]")
        }
        guard (1...10).contains(maxRepeat) else {
            throw LearningError.invalidParameter(name: "maxRepeat", value: "\(maxRepeat)", expected: "an integer in 1...10")
        }
    }

    /// Refuses a configuration that this build's featurizer would not reproduce exactly.
    public func checkCompatible() throws {
        guard version == FeaturizerConfig.currentVersion else {
            throw LearningError.featurizerMismatch(
                "The model was trained with featurizer version \(version); this build implements version \(FeaturizerConfig.currentVersion), so its features would not match.")
        }
        do { try validate() } catch let error as LearningError {
            throw LearningError.featurizerMismatch("The model's featurizer configuration is invalid: \(error).")
        }
    }
}

/// Where one feature came from, recorded only when explaining a score.
public struct FeatureOrigin: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable { case word, ngram, char }
    public var kind: Kind
    /// Byte range in the tokenizer's buffer.
    public var start: Int32
    public var end: Int32
}

/// Turns text into hashed features, reusing its buffers: after warm-up it allocates nothing per text.
///
/// Output is `hashes` (full 32-bit hashes in order, word features first; use `bucket(_:)` and `sign(_:)`), with
/// `wordFeatureCount` and `charFeatureCount`, and the same features counted: `uniqueHashes` with `counts`
/// (`uniqueWordCount` of them words). Models read the counted form; explanations read `hashes` and `origins`.
/// A `Featurizer` is a value with mutable scratch space: give each thread its own copy.
public struct Featurizer: Sendable {
    public let config: FeaturizerConfig
    public let mask: UInt32
    public private(set) var tokenizer: Tokenizer
    public private(set) var hashes: [UInt32] = []
    public private(set) var origins: [FeatureOrigin] = []
    public private(set) var wordFeatureCount = 0
    public private(set) var charFeatureCount = 0
    /// The distinct hashes of `hashes`, in order of first occurrence within each block (words first).
    public var uniqueHashes: ArraySlice<UInt32> { uniqueStorage[0..<uniqueCount] }
    /// How often each of `uniqueHashes` occurred.
    public var counts: ArraySlice<Float> { countStorage[0..<uniqueCount] }
    private var uniqueStorage: [UInt32] = []
    private var countStorage: [Float] = []
    private var uniqueCount = 0
    /// How many of `uniqueHashes` belong to the word block.
    public private(set) var uniqueWordCount = 0
    private var distinct = DistinctTable()
    private var tokenHashes: [UInt32] = []
    private var scalarOffsets: [Int32] = []
    private let charSeed: UInt32

    public init(config: FeaturizerConfig) {
        self.config = config
        self.mask = UInt32(truncatingIfNeeded: (1 << config.bucketBits) - 1)
        self.tokenizer = Tokenizer(maxRepeat: config.maxRepeat)
        self.charSeed = config.seed &+ 0x9E37_79B9
    }

    @inline(__always) public func bucket(_ hash: UInt32) -> Int { Int(hash & mask) }
    @inline(__always) public static func sign(_ hash: UInt32) -> Float { (hash & 0x8000_0000) != 0 ? -1 : 1 }

    /// Featurizes `text` into `hashes`. With `trace`, also fills `origins` (one per hash) for explanations.
    public mutating func featurize(_ text: String, trace: Bool = false) {
        tokenizer.tokenize(text)
        hashes.removeAll(keepingCapacity: true)
        origins.removeAll(keepingCapacity: true)
        tokenHashes.removeAll(keepingCapacity: true)
        let config = self.config
        let seed = config.seed
        let count = tokenizer.count
        tokenizer.buffer.withUnsafeBufferPointer { buf in
            // Word unigrams and n-grams.
            for t in 0..<count {
                let s = Int(tokenizer.starts[t]), e = Int(tokenizer.ends[t])
                let h = murmur3(UnsafeBufferPointer(rebasing: buf[s..<e]), seed: seed)
                tokenHashes.append(h)
                hashes.append(h)
                if trace { origins.append(FeatureOrigin(kind: .word, start: Int32(s), end: Int32(e))) }
                if config.wordNgramMax >= 2 && t >= 1 {
                    var g = h
                    for order in 2...config.wordNgramMax where t - order + 1 >= 0 {
                        g = combineHashes(tokenHashes[t - order + 1], g, seed: seed &+ UInt32(order))
                        hashes.append(g)
                        if trace {
                            origins.append(FeatureOrigin(kind: .ngram, start: tokenizer.starts[t - order + 1], end: Int32(e)))
                        }
                    }
                }
            }
            wordFeatureCount = hashes.count
        }
        // Character n-grams inside padded white-space chunks, written through a pointer into room made in one go.
        if config.charNgramMax > 0 {
            let orders = config.charNgramMax - config.charNgramMin + 1
            var bound = 0
            for t in 0..<tokenizer.chunkStarts.count {
                bound += (Int(tokenizer.chunkEnds[t]) - Int(tokenizer.chunkStarts[t]) + 2) * orders
            }
            let base = hashes.count
            hashes.append(contentsOf: repeatElement(0, count: bound))
            // Origins, when traced, are written the same way: through a pointer into room made in one go.
            let originBase = origins.count
            if trace { origins.append(contentsOf: repeatElement(FeatureOrigin(kind: .char, start: 0, end: 0), count: bound)) }
            var written = 0
            let (low, high) = (config.charNgramMin, config.charNgramMax)
            let charSeed = self.charSeed
            var traced = origins
            origins = []
            defer { origins = traced }
            tokenizer.chunkBuffer.withUnsafeBufferPointer { buf in
                hashes.withUnsafeMutableBufferPointer { all in
                    traced.withUnsafeMutableBufferPointer { originsAll in
                        let out = all.baseAddress! + base
                        let originOut = originsAll.baseAddress.map { $0 + originBase }
                        for t in 0..<tokenizer.chunkStarts.count {
                            let s = Int(tokenizer.chunkStarts[t]) - 1, e = Int(tokenizer.chunkEnds[t]) + 1
                            var ascii = true
                            for k in s..<e where buf[k] >= 0x80 { ascii = false; break }
                            if ascii {
                                let len = e - s
                                for n in low...high {
                                    if n > len { break }
                                    for p in s...(e - n) {
                                        if n == 1 && buf[p] == 0x20 { continue }
                                        out[written] = murmur3(UnsafeBufferPointer(rebasing: buf[p..<(p + n)]), seed: charSeed)
                                        written &+= 1
                                        if trace { originOut![written &- 1] = FeatureOrigin(kind: .char, start: Int32(p), end: Int32(p + n)) }
                                    }
                                }
                            } else {
                                scalarOffsets.removeAll(keepingCapacity: true)
                                for k in s..<e where buf[k] & 0xC0 != 0x80 { scalarOffsets.append(Int32(k)) }
                                scalarOffsets.append(Int32(e))
                                let len = scalarOffsets.count - 1
                                for n in low...high {
                                    if n > len { break }
                                    for q in 0...(len - n) {
                                        let p = Int(scalarOffsets[q]), pe = Int(scalarOffsets[q + n])
                                        if n == 1 && buf[p] == 0x20 { continue }
                                        out[written] = murmur3(UnsafeBufferPointer(rebasing: buf[p..<pe]), seed: charSeed)
                                        written &+= 1
                                        if trace { originOut![written &- 1] = FeatureOrigin(kind: .char, start: Int32(p), end: Int32(pe)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            hashes.removeLast(bound - written)
            if trace { traced.removeLast(bound - written) }
        }
        charFeatureCount = hashes.count - wordFeatureCount
        // Distinct features with their counts, per block (word block first), in order of first occurrence.
        let n = hashes.count
        if uniqueStorage.count < n {
            uniqueStorage = [UInt32](repeating: 0, count: max(64, 2 * n))
            countStorage = [Float](repeating: 0, count: max(64, 2 * n))
        }
        distinct.reset(capacityFor: n)
        let wordEnd = wordFeatureCount
        var unique = 0
        var wordUnique = 0
        let mask = distinct.mask
        var generation = distinct.generation
        hashes.withUnsafeBufferPointer { src in
            distinct.slots.withUnsafeMutableBufferPointer { slots in
                uniqueStorage.withUnsafeMutableBufferPointer { out in
                    countStorage.withUnsafeMutableBufferPointer { cnt in
                        for i in 0..<n {
                            if i == wordEnd {
                                wordUnique = unique
                                generation &+= 1  // a new block: start counting afresh
                            }
                            let key = src[i]
                            var slot = Int((key &* 0x9E37_79B1) >> 7) & mask
                            while true {
                                if slots[slot].stamp != generation {
                                    slots[slot] = DistinctTable.Slot(key: key, stamp: generation, position: Int32(unique))
                                    out[unique] = key
                                    cnt[unique] = 1
                                    unique &+= 1
                                    break
                                }
                                if slots[slot].key == key {
                                    cnt[Int(slots[slot].position)] += 1
                                    break
                                }
                                slot = (slot &+ 1) & mask
                            }
                        }
                    }
                }
            }
        }
        if wordEnd >= n { wordUnique = unique }
        distinct.generation = generation
        uniqueCount = unique
        uniqueWordCount = wordUnique
    }

    /// The human-readable text of a traced feature: a word, a word n-gram, or a character n-gram with its
    /// word boundaries shown as `_` (`_fre` is "fre" at the start of a word).
    public func text(of origin: FeatureOrigin) -> String {
        let range = Int(origin.start)..<Int(origin.end)
        if origin.kind == .char {
            var bytes = Array(tokenizer.chunkBuffer[range])
            for i in bytes.indices where bytes[i] == 0x20 { bytes[i] = 0x5F }
            return String(decoding: bytes, as: UTF8.self)
        }
        return String(decoding: tokenizer.buffer[range], as: UTF8.self)
    }
}

/// An open-addressing hash table of 32-bit hashes mapping each to its position, cleared in O(1) by stamping
/// slots with a generation number. Used to count distinct features without sorting or allocating.
struct DistinctTable: Sendable {
    struct Slot: Sendable {
        var key: UInt32
        var stamp: UInt32
        var position: Int32
    }

    var slots: [Slot] = []
    var generation: UInt32 = 0
    var mask = 0

    /// Empties the table, growing it to hold `n` keys at most half full. Leaves room for two generations
    /// (one per feature block).
    mutating func reset(capacityFor n: Int) {
        var size = max(64, slots.count)
        while size < 2 * n { size *= 2 }
        if size != slots.count {
            slots = [Slot](repeating: Slot(key: 0, stamp: 0, position: -1), count: size)
            mask = size - 1
            generation = 0
        }
        if generation >= UInt32.max - 4 {  // about to wrap: clear for real
            for i in slots.indices { slots[i].stamp = 0 }
            generation = 0
        }
        generation &+= 1
    }
}
