import Engine
import Foundation
import GRDB
import Learning

/// The stored form of a `StageResult` (the `body` column of `stage_result`): a compact binary record.
///
/// Stage results are most of what the database holds and writes (one or more per item, each written to the log
/// and again by the checkpoint). As sorted-key JSON a creation result took about 825 bytes, two thirds of them
/// keys and 17-digit numbers, and rendering it was a sixth of a batched item's CPU; this record takes about 280
/// bytes and a few copies. Rows written before it (JSON text) are still read: `decode` tells them apart by type.
///
/// Format version 1, a BLOB whose first byte is 1 (a JSON row is TEXT starting with `{`). Then, in this order:
/// - counts and lengths are unsigned LEB128; strings are a length and UTF-8 bytes; numbers are IEEE 754 doubles, little-endian; integers
///   are zigzag LEB128; booleans one byte; an optional value is a byte 0 (absent) or 1 followed by the value;
/// - stage, scored-at (seconds since 2001-01-01, `Date`'s own value, so it round-trips exactly), model version;
/// - the probabilities: a count, then each class name and probability, by class name;
/// - label, evidence;
/// - the decision: action, policy version, reason, optional label, optional probability;
/// - optional review priority;
/// - the reasons: a count, then each label, feature, kind, contribution;
/// - relevance: quality, engagement, freshness, relevance;
/// - the inputs: trigger, age in hours, viral, optional engagement (views, likes, shares, comments, reports,
///   hides), optional velocity, baseline velocity, baseline report rate, engagement odds ratio, engagement model,
///   and optional author (id, optional account age in days, followers, prior removals);
/// - optional description of the change;
/// - format 2 only (written when the stage matched a bank, so that format 1 stays readable by earlier Winnows for
///   every other row): the bank match: bank, bank version, entry, kind, optional media index, optional distance,
///   optional similarity, optional ticket, label, action. Nothing after it.
///
/// The column is declared TEXT (tables are not STRICT, so a BLOB stays a BLOB): keep it that way, or convert the
/// JSON rows, before adding a type check or a JSON constraint to it.
///
/// A record that ends early, runs on, holds an unknown name for an enumeration, or starts with another version is
/// refused as a corrupt row.
enum StageRecord {
    static let version: UInt8 = 1
    /// The format of a stage that matched a bank.
    static let matchVersion: UInt8 = 2

    static func encode(_ r: StageResult) -> [UInt8] {
        var w = Writer()
        w.byte(r.match == nil ? version : matchVersion)
        w.string(r.stage.rawValue)
        w.double(r.scoredAt.timeIntervalSinceReferenceDate)
        w.string(r.modelVersion)
        w.count(r.probabilities.count)
        if r.probabilities.count == 1 {
            for (name, p) in r.probabilities { w.string(name); w.double(p) }
        } else {
            for (name, p) in r.probabilities.sorted(by: { $0.key < $1.key }) { w.string(name); w.double(p) }
        }
        w.string(r.label)
        w.double(r.evidence)
        let d = r.decision
        w.string(d.action.rawValue)
        w.integer(d.policyVersion)
        w.string(d.reason)
        w.string(ifPresent: d.label)
        w.double(ifPresent: d.probability)
        w.string(ifPresent: r.priority?.rawValue)
        w.count(r.reasons.count)
        for reason in r.reasons {
            w.string(reason.label)
            w.string(reason.feature)
            w.string(reason.kind.rawValue)
            w.double(reason.contribution)
        }
        let v = r.relevance
        w.double(v.quality); w.double(v.engagement); w.double(v.freshness); w.double(v.relevance)
        let i = r.inputs
        w.string(i.trigger)
        w.double(i.ageHours)
        w.bool(i.viral)
        if w.present(i.engagement), let e = i.engagement {
            w.integer(e.views); w.integer(e.likes); w.integer(e.shares); w.integer(e.comments); w.integer(e.reports); w.integer(e.hides)
        }
        w.double(ifPresent: i.velocity)
        w.double(ifPresent: i.baselineVelocity)
        w.double(ifPresent: i.baselineReportRate)
        w.double(ifPresent: i.engagementOddsRatio)
        w.string(ifPresent: i.engagementModel)
        if w.present(i.author), let a = i.author {
            w.string(a.id)
            w.double(ifPresent: a.accountAgeDays)
            w.integer(ifPresent: a.followers)
            w.integer(ifPresent: a.priorRemovals)
        }
        w.string(ifPresent: r.changed)
        if let m = r.match {
            w.string(m.bank)
            w.integer(m.bankVersion)
            w.integer(Int(m.entry))
            w.string(m.kind.rawValue)
            w.integer(ifPresent: m.media)
            w.integer(ifPresent: m.distance)
            w.double(ifPresent: m.similarity)
            w.integer(ifPresent: m.ticketID.map(Int.init))
            w.string(m.label)
            w.string(m.action.rawValue)
        }
        return w.finish()
    }

    /// A stored stage result: a record (BLOB), or JSON text from before records.
    /// - Throws: `StoreError.corruptRow` saying what is wrong with it.
    static func decode(_ value: DatabaseValue) throws -> StageResult {
        switch value.storage {
        case let .blob(data): return try data.withUnsafeBytes { try decode($0) }
        case let .string(json): return try Codec.decode(StageResult.self, json)
        default: throw StoreError.corruptRow("StageResult: expected a record or JSON text, found \(value)")
        }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> StageResult {
        var r = Reader(bytes: bytes)
        let format = try r.byte()
        guard format == version || format == matchVersion else {
            throw StoreError.corruptRow("StageResult: unknown record format \(format); this Winnow reads formats \(version) and \(matchVersion) (or JSON text). A newer Winnow may have written it: run that version")
        }
        let stage = try r.enumeration(Stage.self)
        let scoredAt = Date(timeIntervalSinceReferenceDate: try r.double())
        let modelVersion = try r.string()
        var probabilities: [String: Double] = [:]
        let classes = try r.count()
        probabilities.reserveCapacity(min(classes, r.remaining / 9))  // each takes 9 bytes or more: a bad count cannot reserve much
        for _ in 0..<classes { probabilities[try r.string()] = try r.double() }
        let label = try r.string()
        let evidence = try r.double()
        let action = try r.enumeration(Action.self)
        let policyVersion = try r.integer()
        let reason = try r.string()
        let decision = PolicyDecision(action: action, label: try r.stringIfPresent(), probability: try r.doubleIfPresent(),
                                      policyVersion: policyVersion, reason: reason)
        let priority = try r.present() ? try r.enumeration(ReviewPriority.self) : nil
        var reasons: [Reason] = []
        let reasonCount = try r.count()
        reasons.reserveCapacity(min(reasonCount, r.remaining / 11))
        for _ in 0..<reasonCount {
            reasons.append(Reason(label: try r.string(), feature: try r.string(), kind: try r.enumeration(FeatureOrigin.Kind.self),
                                  contribution: try r.double()))
        }
        let relevance = RelevanceScore(quality: try r.double(), engagement: try r.double(), freshness: try r.double(), relevance: try r.double())
        let trigger = try r.string()
        let ageHours = try r.double()
        let viral = try r.bool()
        let engagement = try r.present()
            ? Engagement(views: try r.integer(), likes: try r.integer(), shares: try r.integer(), comments: try r.integer(),
                         reports: try r.integer(), hides: try r.integer())
            : nil
        let velocity = try r.doubleIfPresent()
        let baselineVelocity = try r.doubleIfPresent()
        let baselineReportRate = try r.doubleIfPresent()
        let engagementOddsRatio = try r.doubleIfPresent()
        let engagementModel = try r.stringIfPresent()
        let author = try r.present()
            ? Author(id: try r.string(), accountAgeDays: try r.doubleIfPresent(), followers: try r.integerIfPresent(),
                     priorRemovals: try r.integerIfPresent())
            : nil
        let inputs = StageInputs(trigger: trigger, ageHours: ageHours, engagement: engagement, velocity: velocity, baselineVelocity: baselineVelocity,
                                 viral: viral, baselineReportRate: baselineReportRate, engagementOddsRatio: engagementOddsRatio,
                                 engagementModel: engagementModel, author: author)
        let changed = try r.stringIfPresent()
        var match: BankMatch?
        if format == matchVersion {
            let bank = try r.string(), bankVersion = try r.integer(), entry = try r.integer(), kind = try r.enumeration(BankSignature.Kind.self)
            let media = try r.integerIfPresent(), distance = try r.integerIfPresent(), similarity = try r.doubleIfPresent()
            let ticket = try r.integerIfPresent()
            match = BankMatch(bank: bank, bankVersion: bankVersion, entry: Int64(entry), kind: kind, media: media, distance: distance,
                              similarity: similarity, ticketID: ticket.map(Int64.init), label: try r.string(), action: try r.enumeration(Action.self))
        }
        guard r.atEnd else { throw StoreError.corruptRow("StageResult: \(r.remaining) byte(s) after the end of the record") }
        return StageResult(stage: stage, scoredAt: scoredAt, modelVersion: modelVersion, probabilities: probabilities, label: label,
                           evidence: evidence, decision: decision, priority: priority, reasons: reasons, relevance: relevance,
                           inputs: inputs, changed: changed, match: match)
    }

    /// Appends into a buffer of its own (an `Array`'s appends checked uniqueness and capacity each time: most of
    /// the encoding's cost); `finish` hands the bytes over as an array.
    private struct Writer: ~Copyable {
        private var base: UnsafeMutableRawPointer
        private var length = 0
        private var capacity: Int

        init(capacity: Int = 512) {
            self.capacity = capacity
            base = .allocate(byteCount: capacity, alignment: 8)
        }

        deinit { base.deallocate() }

        /// Room for `n` more bytes.
        private mutating func reserve(_ n: Int) {
            guard length + n > capacity else { return }
            let larger = max(capacity * 2, length + n)
            let moved = UnsafeMutableRawPointer.allocate(byteCount: larger, alignment: 8)
            moved.copyMemory(from: base, byteCount: length)
            base.deallocate()
            base = moved
            capacity = larger
        }

        consuming func finish() -> [UInt8] {
            [UInt8](UnsafeRawBufferPointer(start: base, count: length))
        }

        mutating func byte(_ value: UInt8) {
            reserve(1)
            base.storeBytes(of: value, toByteOffset: length, as: UInt8.self)
            length += 1
        }

        mutating func bool(_ value: Bool) { byte(value ? 1 : 0) }

        mutating func unsigned(_ value: UInt64) {
            reserve(10)
            var v = value
            while v >= 0x80 {
                base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: length, as: UInt8.self)
                length += 1
                v >>= 7
            }
            base.storeBytes(of: UInt8(v), toByteOffset: length, as: UInt8.self)
            length += 1
        }

        mutating func count(_ value: Int) { unsigned(UInt64(value)) }
        /// Zigzag: small magnitudes of either sign take few bytes.
        mutating func integer(_ value: Int) { unsigned(UInt64(bitPattern: Int64((value << 1) ^ (value >> 63)))) }

        mutating func double(_ value: Double) {
            reserve(8)
            base.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: length, as: UInt64.self)
            length += 8
        }

        mutating func string(_ value: String) {
            var value = value
            value.withUTF8 { utf8 in
                count(utf8.count)
                reserve(utf8.count)
                if let source = utf8.baseAddress { (base + length).copyMemory(from: source, byteCount: utf8.count) }
                length += utf8.count
            }
        }

        /// Writes whether `value` is there (1) or not (0); the caller writes a present value next.
        mutating func present<T>(_ value: T?) -> Bool {
            byte(value == nil ? 0 : 1)
            return value != nil
        }

        mutating func string(ifPresent value: String?) { if present(value), let value { string(value) } }
        mutating func double(ifPresent value: Double?) { if present(value), let value { double(value) } }
        mutating func integer(ifPresent value: Int?) { if present(value), let value { integer(value) } }
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        var atEnd: Bool { offset == bytes.count }
        var remaining: Int { bytes.count - offset }

        func truncated(_ what: String) -> StoreError {
            StoreError.corruptRow("StageResult: the record ends inside \(what) (\(bytes.count) bytes)")
        }

        mutating func byte() throws -> UInt8 {
            guard offset < bytes.count else { throw truncated("a byte") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func bool() throws -> Bool {
            switch try byte() {
            case 0: return false
            case 1: return true
            case let other: throw StoreError.corruptRow("StageResult: \(other) where a flag (0 or 1) was expected")
            }
        }

        mutating func unsigned() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < bytes.count else { throw truncated("a number") }
                let b = bytes[offset]
                offset += 1
                // The tenth byte holds the 64th bit only.
                guard shift < 63 || b <= 1 else { throw StoreError.corruptRow("StageResult: a number longer than 64 bits") }
                value |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return value }
                shift += 7
            }
        }

        mutating func count() throws -> Int {
            let value = try unsigned()
            guard value <= UInt64(remaining) else { throw truncated("a list or string of \(value)") }
            return Int(value)
        }

        mutating func integer() throws -> Int {
            let z = try unsigned()
            return Int(Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1))))
        }

        mutating func double() throws -> Double {
            guard remaining >= 8 else { throw truncated("a number") }
            var bits: UInt64 = 0
            withUnsafeMutableBytes(of: &bits) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 8)])) }
            offset += 8
            return Double(bitPattern: UInt64(littleEndian: bits))
        }

        mutating func string() throws -> String {
            let length = try count()
            defer { offset += length }
            let utf8 = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
            guard let text = String(validating: utf8, as: UTF8.self) else {
                throw StoreError.corruptRow("StageResult: a string that is not UTF-8")
            }
            return text
        }

        mutating func enumeration<T: RawRepresentable>(_ type: T.Type) throws -> T where T.RawValue == String {
            let name = try string()
            guard let value = T(rawValue: name) else { throw StoreError.corruptRow("StageResult: '\(name)' is not a \(T.self)") }
            return value
        }

        /// Whether an optional value follows.
        mutating func present() throws -> Bool { try bool() }

        mutating func stringIfPresent() throws -> String? { try present() ? try string() : nil }
        mutating func doubleIfPresent() throws -> Double? { try present() ? try double() : nil }
        mutating func integerIfPresent() throws -> Int? { try present() ? try integer() : nil }
    }
}
