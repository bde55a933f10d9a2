/// The item submission body (`POST /v1/items`, each element of a batch) as the fast reader reads it, before the
/// server's types: times are still their text. Decodable too, so the strict decoder reads the same shape, and the
/// fuzz target checks that whatever the fast reader accepts, the strict decoder reads the same.
public struct ScannedItem: Decodable, Equatable, Sendable {
    public struct Author: Decodable, Equatable, Sendable {
        public var id: String
        public var accountAgeDays: Double?
        public var followers: Int?
        public var priorRemovals: Int?
    }

    public var id: String
    public var feed: String?
    public var text: String
    public var language: String?
    public var author: Author?
    public var createdAt: String?
}

/// A batch body: `{"items": [...]}`.
public struct ScannedBatch: Decodable, Equatable, Sendable {
    public var items: [ScannedItem]
}

extension ScannedItem: ScannableJSON {
    public static func scan(_ bytes: UnsafeRawBufferPointer) -> ScannedItem? {
        var scanner = JSONScanner(bytes)
        guard let item = scan(&scanner), scanner.atEnd else { return nil }
        return item
    }

    /// One item object; nil when a field is missing, mistyped, repeated, null, unknown or unusual (the strict
    /// decoder then decides).
    public static func scan(_ scanner: inout JSONScanner) -> ScannedItem? {
        var id: String?, feed: String?, text: String?, language: String?, author: Author?, createdAt: String?
        var seen = SeenKeys()
        let read = scanner.object { s, key in
            if key.is("id") { guard seen.first(1) else { return false }; id = s.string(); return id != nil }
            if key.is("text") { guard seen.first(2) else { return false }; text = s.string(); return text != nil }
            if key.is("feed") { guard seen.first(4) else { return false }; feed = s.string(); return feed != nil }
            if key.is("language") { guard seen.first(8) else { return false }; language = s.string(); return language != nil }
            if key.is("author") { guard seen.first(16) else { return false }; author = Author.scan(&s); return author != nil }
            if key.is("createdAt") { guard seen.first(32) else { return false }; createdAt = s.string(); return createdAt != nil }
            return false  // an unknown field: refused, by the strict decoder
        }
        guard read, let id, let text else { return nil }
        return ScannedItem(id: id, feed: feed, text: text, language: language, author: author, createdAt: createdAt)
    }
}

extension ScannedItem.Author {
    /// An author object; nil when `id` is missing or a field is mistyped, repeated, null or unknown.
    static func scan(_ scanner: inout JSONScanner) -> ScannedItem.Author? {
        var id: String?, accountAgeDays: Double?, followers: Int?, priorRemovals: Int?
        var seen = SeenKeys()
        let read = scanner.object { s, key in
            if key.is("id") { guard seen.first(1) else { return false }; id = s.string(); return id != nil }
            if key.is("accountAgeDays") { guard seen.first(2) else { return false }; accountAgeDays = s.double(); return accountAgeDays != nil }
            if key.is("followers") { guard seen.first(4) else { return false }; followers = s.integer(); return followers != nil }
            if key.is("priorRemovals") { guard seen.first(8) else { return false }; priorRemovals = s.integer(); return priorRemovals != nil }
            return false
        }
        guard read, let id else { return nil }
        return ScannedItem.Author(id: id, accountAgeDays: accountAgeDays, followers: followers, priorRemovals: priorRemovals)
    }
}

extension ScannedBatch: ScannableJSON {
    public static func scan(_ bytes: UnsafeRawBufferPointer) -> ScannedBatch? {
        var scanner = JSONScanner(bytes)
        var items: [ScannedItem]?
        let read = scanner.object { s, key in
            guard key.is("items"), items == nil else { return false }
            var list: [ScannedItem] = []
            list.reserveCapacity(bytes.count / 64)
            guard s.array({ s in
                guard let item = ScannedItem.scan(&s) else { return false }
                list.append(item)
                return true
            }) else { return false }
            items = list
            return true
        }
        guard read, scanner.atEnd, let items else { return nil }
        return ScannedBatch(items: items)
    }
}
