import Foundation
import Learning

/// A bank: a named, versioned set of signatures of content people already decided, with the label and the action a
/// match applies (`spam-wave`: spam → remove; `known-scam`: scam → review). Stage 1 checks an item's text and media
/// against the banks of its feed before the classifier decides.
public struct Bank: Codable, Equatable, Sendable {
    public var name: String
    /// The class a match stands on (one of the model's classes, or any name the feed's policy knows).
    public var label: String
    public var action: Action
    /// The feeds it applies to; nil: every feed.
    public var feeds: [String]?
    public var description: String?
    /// Raised by every change of the bank or its entries: a match names the version it was made against.
    public var version: Int
    public var entries: Int
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(name: String, label: String, action: Action, feeds: [String]? = nil, description: String? = nil, version: Int = 1, entries: Int = 0,
                createdBy: String, createdAt: Date, updatedAt: Date? = nil) {
        self.name = name
        self.label = label
        self.action = action
        self.feeds = feeds
        self.description = description
        self.version = version
        self.entries = entries
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }

    public func applies(to feed: String) -> Bool { feeds?.contains(feed) ?? true }

    /// Bank names: 1 to 64 of a-z, 0-9, `-`, `_` and `.`, starting with a letter or digit (they sit in paths).
    public static func isValidName(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), let first = name.utf8.first, Self.isAlphanumeric(first) else { return false }
        return name.utf8.allSatisfy { Self.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    private static func isAlphanumeric(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }

    /// The bank a reviewer's removals of `label` in `feed` are added to (`BankRules.automaticEntries`):
    /// `FEED-LABEL-removed` when that is a valid name and the label needs no cleaning; otherwise `auto-` and a digest of
    /// the feed and the label, so that two labels never share a bank (`Spam` and `spam`, long feed names).
    public static func automaticName(feed: String, label: String) -> String {
        let plain = "\(feed)-\(label)-removed"
        if isValidName(plain) { return plain }
        var hasher = FNV1a64()
        hasher.add(feed)
        hasher.add(label)
        return "auto-\(hasher.hex)-removed"
    }
}

/// What a bank entry holds: a text's near-duplicate signature, an image's PDQ hash, or a video's frame hashes.
public enum BankSignature: Equatable, Sendable {
    case text(TextSignature)
    case image(ImageSignature)
    case video([VideoFrameSignature])

    public enum Kind: String, Codable, CaseIterable, Sendable { case text, image, video }

    /// Frame hashes a video signature may hold: 10 minutes at 1 a second, many times over (matching compares frames
    /// pairwise).
    public static let maxFrames = 10_000

    public var kind: Kind {
        switch self {
        case .text: return .text
        case .image: return .image
        case .video: return .video
        }
    }

    /// The stored form: the text signature's 128 hex digits; an image's PDQ hex; a video's frames as
    /// `seconds:quality:hex` joined by spaces.
    public var value: String {
        switch self {
        case let .text(signature): return signature.hex
        case let .image(image): return image.hash.hex
        case let .video(frames): return frames.map { "\(FixedText.format($0.seconds, places: 3)):\($0.quality):\($0.hash.hex)" }.joined(separator: " ")
        }
    }

    /// An image's quality; nil for the others.
    public var quality: Int? {
        if case let .image(image) = self { return image.quality }
        return nil
    }

    /// Reads a stored or submitted signature; the error says what was wrong.
    public init(kind: Kind, value: String, quality: Int?) throws(ValidationError) {
        switch kind {
        case .text:
            guard let signature = TextSignature(hex: value) else {
                throw ValidationError(field: "signature", "a text signature is \(TextSignature.count * 2) hex digits (as GET /v1/banks/{name}/entries gives it); add text with `text` instead to have it signed")
            }
            self = .text(signature)
        case .image:
            guard let hash = PDQHash(hex: value) else { throw ValidationError(field: "pdq", "a PDQ hash is 64 hex digits, bit 255 first") }
            let quality = quality ?? 100
            guard (0...100).contains(quality) else { throw ValidationError(field: "quality", "a PDQ quality is 0 to 100") }
            self = .image(ImageSignature(hash: hash, quality: quality))
        case .video:
            var frames: [VideoFrameSignature] = []
            for (index, part) in value.split(separator: " ").enumerated() {
                let fields = part.split(separator: ":", omittingEmptySubsequences: false)
                guard fields.count == 3, let seconds = Double(fields[0]), seconds.isFinite, let q = Int(fields[1]), (0...100).contains(q),
                      let hash = PDQHash(hex: fields[2]) else {
                    throw ValidationError(field: "frames", "frame \(index) is not `seconds:quality:hex` (a PDQ hash of 64 hex digits)")
                }
                frames.append(VideoFrameSignature(frame: index, seconds: seconds, hash: hash, quality: q))
            }
            guard !frames.isEmpty else { throw ValidationError(field: "frames", "a video signature needs at least one frame hash") }
            guard frames.count <= Self.maxFrames else {
                throw ValidationError(field: "frames", "\(frames.count) frame hashes; a video signature holds at most \(Self.maxFrames)", tooLarge: true)
            }
            self = .video(frames)
        }
    }
}

/// Where a bank entry came from: a reviewer's decision on a ticket (automatic entries), or an admin's import.
public struct BankEntrySource: Codable, Equatable, Sendable {
    public var feed: String?
    public var itemID: String?
    public var ticketID: Int64?
    /// The label whose withdrawal or correction removes the entry again.
    public var labelID: Int64?

    public init(feed: String? = nil, itemID: String? = nil, ticketID: Int64? = nil, labelID: Int64? = nil) {
        self.feed = feed
        self.itemID = itemID
        self.ticketID = ticketID
        self.labelID = labelID
    }
}

/// One signature in a bank.
public struct BankEntry: Equatable, Sendable {
    public var id: Int64
    public var bank: String
    public var signature: BankSignature
    public var note: String?
    public var source: BankEntrySource
    public var addedBy: String
    public var addedAt: Date

    public init(id: Int64, bank: String, signature: BankSignature, note: String? = nil, source: BankEntrySource = BankEntrySource(),
                addedBy: String, addedAt: Date) {
        self.id = id
        self.bank = bank
        self.signature = signature
        self.note = note
        self.source = source
        self.addedBy = addedBy
        self.addedAt = addedAt
    }
}

/// A bank entry before the store numbers it.
public struct NewBankEntry: Equatable, Sendable {
    public var signature: BankSignature
    public var note: String?
    public var source: BankEntrySource

    public init(signature: BankSignature, note: String? = nil, source: BankEntrySource = BankEntrySource()) {
        self.signature = signature
        self.note = note
        self.source = source
    }
}

/// A match of an item against a bank, as its stage records it: `matched: bank spam-wave v3, entry 17 from ticket
/// 812, image distance 12`.
public struct BankMatch: Codable, Equatable, Sendable {
    public var bank: String
    public var bankVersion: Int
    public var entry: Int64
    public var kind: BankSignature.Kind
    /// Which of the item's media matched (its index in `media`); nil for text.
    public var media: Int?
    /// PDQ bits apart (images).
    public var distance: Int?
    /// The item's image is the entry's rotated or mirrored this way (nil: as is, or not an image).
    public var orientation: Dihedral?
    /// Estimated Jaccard similarity (text), or the share of frames matched both ways (video, the smaller).
    public var similarity: Double?
    public var ticketID: Int64?
    public var label: String
    public var action: Action

    public init(bank: String, bankVersion: Int, entry: Int64, kind: BankSignature.Kind, media: Int? = nil, distance: Int? = nil,
                orientation: Dihedral? = nil, similarity: Double? = nil, ticketID: Int64? = nil, label: String, action: Action) {
        self.bank = bank
        self.bankVersion = bankVersion
        self.entry = entry
        self.kind = kind
        self.media = media
        self.distance = distance
        self.orientation = orientation
        self.similarity = similarity
        self.ticketID = ticketID
        self.label = label
        self.action = action
    }

    /// "bank spam-wave v3, entry 17 from ticket 812, image 0 distance 12".
    public var summary: String {
        var text = "bank \(bank) v\(bankVersion), entry \(entry)"
        if let ticketID { text += " from ticket \(ticketID)" }
        switch kind {
        case .text: text += ", text similarity \(FixedText.format(similarity ?? 0, places: 2))"
        case .image:
            text += ", image \(media ?? 0) distance \(distance ?? 0)"
            if let orientation { text += " " + orientation.phrase }
        case .video: text += ", video \(media ?? 0) frames matched \(FixedText.format(similarity ?? 0, places: 2))"
        }
        return text
    }
}

/// What an item brings to matching: its text signature and its media's signatures, made at creation (the media's
/// bytes are hashed and dropped). Stored with the item, so that a reviewer's removal can bank it and the queue can
/// group copies.
public struct ItemSignatures: Codable, Equatable, Sendable {
    public var text: TextSignature?
    public var media: [MediaSignature]

    public init(text: TextSignature? = nil, media: [MediaSignature] = []) {
        self.text = text
        self.media = media
    }

    public var isEmpty: Bool { text == nil && media.isEmpty }

    /// The entries a reviewer's removal adds: the text signature and every matchable media signature.
    public var bankable: [BankSignature] {
        var out: [BankSignature] = []
        if let text { out.append(.text(text)) }
        for item in media {
            switch item {
            case let .image(image) where image.isMatchable: out.append(.image(image.plain))
            case let .video(frames) where frames.contains(where: { $0.quality >= PDQHash.minimumQuality }): out.append(.video(frames))
            default: break
            }
        }
        return out
    }

    /// Whether two items are copies of each other (the same rules as bank matching): the queue's waves.
    public func matches(_ other: ItemSignatures) -> Bool {
        if let a = text, let b = other.text, a.matches(b) { return true }
        for x in media {
            for y in other.media {
                switch (x, y) {
                case let (.image(a), .image(b)):
                    // Either side may carry its orientations (a feed's own hash carries none).
                    if a.isMatchable && b.isMatchable
                        && min(a.closest(to: b.hash).distance, b.closest(to: a.hash).distance) <= PDQHash.matchDistance { return true }
                case let (.video(a), .video(b)):
                    if VideoMatch(query: a, target: b).isMatch() { return true }
                default: break
                }
            }
        }
        return false
    }
}

/// An item's media signature: an image's hash or a video's frames.
public enum MediaSignature: Equatable, Sendable {
    case image(ImageSignature)
    case video([VideoFrameSignature])
}

extension TextSignature: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let signature = TextSignature(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a text signature"))
        }
        self = signature
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}

extension MediaSignature: Codable {
    private enum CodingKeys: String, CodingKey { case type, pdq, quality, orientations, frames }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        do {
            switch type {
            case "image":
                let signature = try BankSignature(kind: .image, value: try c.decode(String.self, forKey: .pdq), quality: try c.decode(Int.self, forKey: .quality))
                guard case var .image(image) = signature else { fallthrough }
                let orientations = try c.decodeIfPresent([String].self, forKey: .orientations) ?? []
                image.orientations = try orientations.map {
                    guard let hash = PDQHash(hex: $0) else { throw DecodingError.dataCorruptedError(forKey: .orientations, in: c, debugDescription: "not a PDQ hash") }
                    return hash
                }
                self = .image(image)
            default:
                let signature = try BankSignature(kind: .video, value: try c.decode(String.self, forKey: .frames), quality: nil)
                guard case let .video(frames) = signature else { throw DecodingError.dataCorruptedError(forKey: .frames, in: c, debugDescription: "not a video") }
                self = .video(frames)
            }
        } catch let error as ValidationError {
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .image(image):
            try c.encode("image", forKey: .type)
            try c.encode(image.hash.hex, forKey: .pdq)
            try c.encode(image.quality, forKey: .quality)
            if !image.orientations.isEmpty { try c.encode(image.orientations.map(\.hex), forKey: .orientations) }
        case let .video(frames):
            try c.encode("video", forKey: .type)
            try c.encode(BankSignature.video(frames).value, forKey: .frames)
        }
    }
}

/// How reviewers' decisions feed the banks (`engine.banks`).
public struct BankConfiguration: Codable, Equatable, Sendable {
    /// Whether a reviewer's removal adds the item's text signature and media hashes to the feed's bank for the label.
    public var automatic: Bool = true
    /// The action of each label's automatic bank, by label; empty: every label but the clear one, with `action`.
    /// A label missing from a non-empty map is not banked.
    public var labels: [String: Action] = [:]
    /// The action of automatic banks of labels not in `labels` (when it is empty).
    public var action: Action = .remove
    /// Whether items' texts are matched (images and videos always are).
    public var matchText: Bool = true

    public init() {}

    /// The action of the automatic bank for `label`, nil when the label is not banked.
    public func automaticAction(for label: String, clearLabel: String) -> Action? {
        guard automatic, label != clearLabel else { return nil }
        return labels.isEmpty ? action : labels[label]
    }
}

/// The rule that turns a reviewer's removal into bank entries: the pure part of `BankService.bankRemoval`.
public enum BankRules {
    /// The automatic bank and the entries a decided ticket adds to it, or nil: only a person's removal of an item on a
    /// harmful label banks it (not an audit's verdict, which changes nothing; not a first review awaiting the second;
    /// not a gold ticket), and only when the item has something to bank.
    public static func automaticEntries(for decided: DecidedTicket, signatures: ItemSignatures, configuration: BankConfiguration,
                                        clearLabel: String, now: Date) -> (bank: Bank, entries: [NewBankEntry])? {
        guard decided.outcome == .decided, decided.action == .remove, decided.ticket.goldLabel == nil,
              decided.ticket.reasons != [.audit], let label = decided.labels.last else { return nil }
        return automaticEntries(item: decided.item.submission, label: label, ticket: decided.ticket.id, signatures: signatures,
                                configuration: configuration, clearLabel: clearLabel, now: now)
    }

    /// The entries (and the automatic bank they go to) of `item` removed on `label` at ticket `ticket`: a reviewer's
    /// removal, or the label of one corrected to another harmful class (its entries move to that class's bank).
    public static func automaticEntries(item: ItemSubmission, label: LabelRecord, ticket: Int64?, signatures: ItemSignatures,
                                        configuration: BankConfiguration, clearLabel: String, now: Date) -> (bank: Bank, entries: [NewBankEntry])? {
        guard let labelID = label.id, let action = configuration.automaticAction(for: label.label, clearLabel: clearLabel) else { return nil }
        let feed = item.feed
        let entries = signatures.bankable.map { signature in
            NewBankEntry(signature: signature, note: "removed by review",
                         source: BankEntrySource(feed: feed, itemID: item.id, ticketID: ticket, labelID: labelID))
        }
        guard !entries.isEmpty else { return nil }
        let bank = Bank(name: Bank.automaticName(feed: feed, label: label.label), label: label.label, action: action, feeds: [feed],
                        description: "Added automatically: items of feed \(feed) that reviewers removed as \(label.label).",
                        createdBy: "winnow", createdAt: now)
        return (bank, entries)
    }
}
