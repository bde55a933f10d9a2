import Learning

/// The banks' entries in memory, indexed so that matching an item stays fast as banks grow: multi-index hashing for
/// PDQ hashes, LSH bands for text signatures. Not a scan: a query looks at a few hundred buckets whatever the size.
///
/// **Images (and video frames).** A PDQ hash is cut into sixteen 16-bit pieces, each the key of its own table. Two
/// hashes within 31 bits differ in at most one bit in at least one piece (sixteen pieces of two or more differing
/// bits make 32), so probing each piece's value and its 16 one-bit neighbours (272 buckets) finds every hash within
/// the match distance, exactly. With a million random hashes a bucket holds about 15, so a query checks about 4,000
/// candidates at four popcounts each.
///
/// **Text.** Each of the signature's 16 band keys is looked up in its band's table; candidates are checked on the
/// whole signature (`TextSignature.matches`).
///
/// Tables are sorted arrays (offsets and slots, no per-bucket allocation) plus a small table of recent additions,
/// folded in when it grows past an eighth of the whole; removed entries are marked and dropped at the next fold.
/// A value type: a node builds the next index and swaps it in, so readers never wait on a writer.
public struct BankIndex: Sendable {
    /// A bank entry's place in a match: its bank, its id and its provenance.
    public struct Owner: Equatable, Sendable {
        public var entry: Int64
        public var bank: Int32
        public var ticketID: Int64?
    }

    public private(set) var banks: [Bank] = []
    private var bankSlots: [String: Int32] = [:]
    private var images = PieceIndex(tables: 16, bucketBits: 16)
    private var imageHashes: [PDQHash] = []
    private var imageOwners: [Owner] = []
    private var frames = PieceIndex(tables: 16, bucketBits: 16)
    private var frameHashes: [PDQHash] = []
    private var frameOwners: [Int32] = []  // the video's slot
    private var videos: [[VideoFrameSignature]] = []
    private var videoOwners: [Owner] = []
    private var removedVideos = 0
    private var texts = PieceIndex(tables: TextSignature.bands, bucketBits: 18)
    private var textBytes: [UInt8] = []
    private var textOwners: [Owner] = []

    public init() {}

    public var entryCount: Int { images.live + videoOwners.count - removedVideos + texts.live }

    /// Adds or replaces a bank's settings (label, action, feeds, version); its entries stay.
    public mutating func upsert(_ bank: Bank) {
        if let slot = bankSlots[bank.name] {
            banks[Int(slot)] = bank
        } else {
            bankSlots[bank.name] = Int32(banks.count)
            banks.append(bank)
        }
    }

    public func bank(named name: String) -> Bank? { bankSlots[name].map { banks[Int($0)] } }

    /// Adds an entry of a known bank (`upsert` it first); entries of an unknown bank are ignored. Images below PDQ's
    /// minimum quality are kept out: they would match any flat picture. With `folding` false the recent additions
    /// are not folded into the sorted tables here, however many there are: the caller folds (`foldIfNeeded`) where
    /// the time it takes (seconds, for a million entries) blocks nobody.
    public mutating func add(_ entry: BankEntry, folding: Bool = true) {
        guard let bank = bankSlots[entry.bank] else { return }
        let owner = Owner(entry: entry.id, bank: bank, ticketID: entry.source.ticketID)
        switch entry.signature {
        case let .text(signature):
            textBytes.append(contentsOf: signature.bytes)
            textOwners.append(owner)
            texts.insert(keys: signature.bandKeys)
        case let .image(image):
            guard image.isMatchable else { return }
            imageHashes.append(image.hash)
            imageOwners.append(owner)
            images.insert(keys: Self.pieces(image.hash))
        case let .video(list):
            let video = Int32(videos.count)
            videos.append(list)
            videoOwners.append(owner)
            for hash in VideoMatch.distinctHashes(list, minimumQuality: PDQHash.minimumQuality) {
                frameHashes.append(hash)
                frameOwners.append(video)
                frames.insert(keys: Self.pieces(hash))
            }
        }
        if folding { foldIfNeeded() }
    }

    /// Removes entries by id (a withdrawn label's, or an admin's removal).
    public mutating func remove(entries ids: Set<Int64>) {
        guard !ids.isEmpty else { return }
        for (slot, owner) in textOwners.enumerated() where ids.contains(owner.entry) { texts.kill(UInt32(slot)) }
        for (slot, owner) in imageOwners.enumerated() where ids.contains(owner.entry) { images.kill(UInt32(slot)) }
        for (video, owner) in videoOwners.enumerated() where ids.contains(owner.entry) && !videos[video].isEmpty {
            videos[video] = []
            removedVideos += 1
            for (slot, frameOwner) in frameOwners.enumerated() where frameOwner == Int32(video) { frames.kill(UInt32(slot)) }
        }
    }

    /// Removes a bank and every entry of it.
    public mutating func remove(bank name: String) {
        guard let slot = bankSlots[name] else { return }
        var ids = Set<Int64>()
        for owner in textOwners where owner.bank == slot { ids.insert(owner.entry) }
        for owner in imageOwners where owner.bank == slot { ids.insert(owner.entry) }
        for owner in videoOwners where owner.bank == slot { ids.insert(owner.entry) }
        remove(entries: ids)
        banks[Int(slot)].feeds = []  // applies to no feed; the slot stays so owners keep their numbers
        bankSlots[name] = nil
    }

    // MARK: - Matching

    /// The best match of an item in the banks that apply to its feed: the most severe action wins, then the
    /// closest. Text first, then each medium in order.
    public func match(feed: String, signatures: ItemSignatures) -> BankMatch? {
        var best: BankMatch?
        func consider(_ candidate: BankMatch, closeness: Double) {
            guard let current = best else { best = candidate; return }
            if candidate.action > current.action || (candidate.action == current.action && closeness > Self.closeness(current)) { best = candidate }
        }
        if let text = signatures.text {
            for (owner, similarity) in textMatches(text) where banks[Int(owner.bank)].applies(to: feed) {
                consider(matchOf(owner, kind: .text, similarity: similarity), closeness: similarity)
            }
        }
        for (index, medium) in signatures.media.enumerated() {
            switch medium {
            case let .image(image):
                guard image.isMatchable else { continue }
                // Each orientation the item carries is looked up too; an entry found twice counts at its closest.
                var closest: [Int64: (owner: Owner, distance: Int, orientation: Dihedral)] = [:]
                for (hash, orientation) in image.orientedHashes {
                    for (owner, distance) in imageMatches(hash) where banks[Int(owner.bank)].applies(to: feed) {
                        if let seen = closest[owner.entry], seen.distance <= distance { continue }
                        closest[owner.entry] = (owner, distance, orientation)
                    }
                }
                for (_, found) in closest.sorted(by: { $0.key < $1.key }) {
                    // The item's hash in orientation T matched the entry, so the item is the entry turned back: T⁻¹.
                    consider(matchOf(found.owner, kind: .image, media: index, distance: found.distance,
                                     orientation: found.orientation == .original ? nil : found.orientation.inverse),
                             closeness: 1 - Double(found.distance) / 256)
                }
            case let .video(list):
                for (owner, comparison) in videoMatches(list) where banks[Int(owner.bank)].applies(to: feed) {
                    consider(matchOf(owner, kind: .video, media: index, similarity: comparison.share),
                             closeness: comparison.share)
                }
            }
        }
        return best
    }

    private static func closeness(_ match: BankMatch) -> Double {
        switch match.kind {
        case .text, .video: return match.similarity ?? 0
        case .image: return 1 - Double(match.distance ?? 256) / 256
        }
    }

    private func matchOf(_ owner: Owner, kind: BankSignature.Kind, media: Int? = nil, distance: Int? = nil, orientation: Dihedral? = nil,
                         similarity: Double? = nil) -> BankMatch {
        let bank = banks[Int(owner.bank)]
        return BankMatch(bank: bank.name, bankVersion: bank.version, entry: owner.entry, kind: kind, media: media, distance: distance,
                         orientation: orientation, similarity: similarity, ticketID: owner.ticketID, label: bank.label, action: bank.action)
    }

    /// Every live image entry within `maxDistance` (at most 31, the index's guarantee) of `hash`, with its distance.
    public func imageMatches(_ hash: PDQHash, maxDistance: Int = PDQHash.matchDistance) -> [(Owner, Int)] {
        nearHashes(hash, maxDistance: maxDistance, in: images, hashes: imageHashes).map { (imageOwners[Int($0.0)], $0.1) }
    }

    /// Every live text entry whose signature matches `signature`, with the estimated similarity.
    public func textMatches(_ signature: TextSignature) -> [(Owner, Double)] {
        var seen = Set<UInt32>()
        var out: [(Owner, Double)] = []
        let count = TextSignature.count
        textBytes.withUnsafeBufferPointer { bytes in
            for (table, key) in signature.bandKeys.enumerated() {
                texts.forEach(table: table, key: key) { slot in
                    guard seen.insert(slot).inserted else { return }
                    var equal = 0
                    let base = Int(slot) * count
                    for i in 0..<count where bytes[base + i] == signature.bytes[i] { equal += 1 }
                    let similarity = TextSignature.similarity(equalMinima: equal)
                    if similarity >= TextSignature.matchSimilarity { out.append((textOwners[Int(slot)], similarity)) }
                }
            }
        }
        return out
    }

    /// Every live video entry that matches `list` by `VideoMatch`, found through its frames.
    public func videoMatches(_ list: [VideoFrameSignature]) -> [(Owner, VideoMatch)] {
        var candidates = Set<Int32>()
        for hash in VideoMatch.distinctHashes(list, minimumQuality: PDQHash.minimumQuality) {
            for (slot, _) in nearHashes(hash, maxDistance: PDQHash.matchDistance, in: frames, hashes: frameHashes) {
                candidates.insert(frameOwners[Int(slot)])
            }
        }
        return candidates.sorted().compactMap { video in
            let comparison = VideoMatch(query: list, target: videos[Int(video)])
            return comparison.isMatch() ? (videoOwners[Int(video)], comparison) : nil
        }
    }

    private func nearHashes(_ hash: PDQHash, maxDistance: Int, in index: PieceIndex, hashes: [PDQHash]) -> [(UInt32, Int)] {
        precondition(maxDistance <= 31, "the index finds every hash within 31 bits, not further")
        var seen = Set<UInt32>()
        var out: [(UInt32, Int)] = []
        hashes.withUnsafeBufferPointer { stored in
            for table in 0..<16 {
                let piece = UInt32(hash.piece(table))
                for flip in -1..<16 {
                    let key = flip < 0 ? piece : piece ^ (1 << UInt32(flip))
                    index.forEach(table: table, key: key) { slot in
                        let distance = stored[Int(slot)].distance(to: hash)
                        if distance <= maxDistance, seen.insert(slot).inserted { out.append((slot, distance)) }
                    }
                }
            }
        }
        return out
    }

    // MARK: - Folding

    private static func pieces(_ hash: PDQHash) -> [UInt32] { (0..<16).map { UInt32(hash.piece($0)) } }

    /// Whether enough entries were added since the last fold to fold them (an eighth of the table, at least 4,096).
    public var needsFold: Bool { images.needsFold || frames.needsFold || texts.needsFold }

    /// Folds the tables that `needsFold` into their sorted arrays.
    public mutating func foldIfNeeded() {
        if images.needsFold {
            let hashes = imageHashes
            images.fold { Self.pieces(hashes[Int($0)]) }
        }
        if frames.needsFold {
            let hashes = frameHashes
            frames.fold { Self.pieces(hashes[Int($0)]) }
        }
        if texts.needsFold {
            let bytes = textBytes
            let count = TextSignature.count
            texts.fold { slot in TextSignature(bytes: Array(bytes[Int(slot) * count..<Int(slot + 1) * count]))!.bandKeys }
        }
    }
}

/// Tables of slots keyed by a piece of a signature: for each table, the slots of each bucket as one sorted array
/// (`offsets` into `slots`), plus the recent additions. Slots are numbered 0, 1, 2… as they are added and keep their
/// numbers; removed ones are marked in a bitset, skipped, and left out of the arrays at the next fold.
struct PieceIndex: Sendable {
    let tables: Int
    let bucketBits: Int
    private var offsets: [[UInt32]]
    private var slots: [[UInt32]]
    private var recent: [[UInt32: [UInt32]]]
    private var recentCount = 0
    private var removed: [UInt64] = []
    private var removedCount = 0
    private(set) var slotCount = 0

    init(tables: Int, bucketBits: Int) {
        self.tables = tables
        self.bucketBits = bucketBits
        offsets = Array(repeating: [], count: tables)
        slots = Array(repeating: [], count: tables)
        recent = Array(repeating: [:], count: tables)
    }

    var live: Int { slotCount - removedCount }

    private var mask: UInt32 { bucketBits >= 32 ? .max : (1 << UInt32(bucketBits)) - 1 }

    /// Adds the next slot's keys, one per table.
    mutating func insert(keys: [UInt32]) {
        precondition(keys.count == tables)
        let slot = UInt32(slotCount)
        for table in 0..<tables { recent[table][keys[table] & mask, default: []].append(slot) }
        slotCount += 1
        recentCount += 1
        if removed.count * 64 < slotCount { removed.append(0) }
    }

    mutating func kill(_ slot: UInt32) {
        let word = Int(slot / 64), bit = UInt64(1) << UInt64(slot % 64)
        guard removed[word] & bit == 0 else { return }
        removed[word] |= bit
        removedCount += 1
    }

    @inline(__always)
    func isRemoved(_ slot: UInt32) -> Bool { removed[Int(slot / 64)] & (UInt64(1) << UInt64(slot % 64)) != 0 }

    var needsFold: Bool { recentCount > max(4096, (slotCount - recentCount) / 8) }

    @inline(__always)
    func forEach(table: Int, key: UInt32, _ body: (UInt32) -> Void) {
        let bucket = key & mask
        let check = removedCount > 0
        if !offsets[table].isEmpty {
            let start = Int(offsets[table][Int(bucket)]), end = Int(offsets[table][Int(bucket) + 1])
            slots[table].withUnsafeBufferPointer { s in
                for i in start..<end where !check || !isRemoved(s[i]) { body(s[i]) }
            }
        }
        if let list = recent[table][bucket] {
            for slot in list where !check || !isRemoved(slot) { body(slot) }
        }
    }

    /// Folds the recent additions into the sorted arrays, recomputing every live slot's keys (`keys(slot)`).
    mutating func fold(keys: (UInt32) -> [UInt32]) {
        let buckets = 1 << bucketBits
        let live = (0..<UInt32(slotCount)).filter { !isRemoved($0) }
        var keyTable = [UInt32](repeating: 0, count: live.count * tables)
        for (i, slot) in live.enumerated() {
            let k = keys(slot)
            for table in 0..<tables { keyTable[table * live.count + i] = k[table] & mask }
        }
        for table in 0..<tables {
            var counts = [UInt32](repeating: 0, count: buckets + 1)
            for i in 0..<live.count { counts[Int(keyTable[table * live.count + i]) + 1] += 1 }
            for b in 0..<buckets { counts[b + 1] += counts[b] }
            var fill = counts
            var out = [UInt32](repeating: 0, count: live.count)
            for (i, slot) in live.enumerated() {
                let b = Int(keyTable[table * live.count + i])
                out[Int(fill[b])] = slot
                fill[b] += 1
            }
            offsets[table] = counts
            slots[table] = out
            recent[table] = [:]
        }
        recentCount = 0
    }
}

extension VideoMatch {
    /// The smaller of the two shares: how a video match is reported.
    public var share: Double { min(queryShare, targetShare) }
}
