import Engine
import Foundation
import Hummingbird

/// Reading what the path and the query say: each refusal is a 4xx naming the parameter.
extension WinnowRequestContext {
    /// The item a route addresses: the id from the path (percent-decoded), the feed from `?feed=` or the body's
    /// `feed` (they must agree), else "default".
    func itemAddress(_ request: Request, bodyFeed: String? = nil) throws -> (feed: String, id: String) {
        let raw = try parameters.require("id")
        // A path that is not valid percent-encoding ("a%zz") was taken as written, so one item answered to two paths.
        guard let id = Query.percentDecoded(raw) else {
            throw APIError(.notFound, code: "not_found",
                           "'\(raw.prefix(100))' is not a valid percent-encoded item id: each % starts two hex digits (send % itself as %25).")
        }
        // No stored id has a control character (every way in refuses one). A NUL reached the store, which reads text
        // up to it: "news-3%00abc" read and changed item news-3 (outside testing).
        if ScoringEngine.hasControlCharacters(id) {
            throw APIError(.notFound, code: "not_found", "No item has an id with control characters: item ids have none.")
        }
        let query = try Query.string(request, "feed").map(Query.feed)
        if let bodyFeed {
            _ = try Query.feed(bodyFeed)
            if let query, query != bodyFeed {
                throw APIError(.unprocessableContent, code: "invalid_value",
                               "The body names feed '\(bodyFeed)' and the query '\(query)'; name one, or the same in both.", field: "feed")
            }
        }
        return (try feed(query ?? bodyFeed), id)
    }

    /// The feed a request is about: `named`, else the key's own when it has one feed, else "default"; refused with a
    /// 403 naming `feed` when the caller's key does not work it.
    func feed(_ named: String?) throws -> String {
        let key = try caller
        let feed = named ?? key.defaultFeed
        guard key.allows(feed: feed) else {
            let own = (key.feeds ?? []).sorted().map { "'\($0)'" }.joined(separator: ", ")
            // A key of several feeds that named none was told it does not work 'default', which it never named.
            if named == nil {
                throw APIError(.unprocessableContent, code: "missing_field",
                               "Key '\(key.name)' works feeds \(own): name the feed (feed in the body; ?feed= on the routes of one item, /v1/items/{id}…, and on /v1/changes).", field: "feed")
            }
            throw APIError(.forbidden, code: "forbidden",
                           "Key '\(key.name)' works feed\(key.feeds?.count == 1 ? "" : "s") \(own), not '\(feed)'. Use that feed's key (an admin makes one with winnow keys create --role feed --feeds \(feed)).",
                           field: "feed")
        }
        return feed
    }

    /// The positive whole number in path parameter `id`: a ticket's or a label's.
    /// - Throws: 404 naming what it is not.
    func rowID(of kind: String) throws -> Int64 {
        let raw = try parameters.require("id")
        guard let id = Query.canonicalInteger(raw, as: Int64.self), id > 0 else {
            throw APIError(.notFound, code: "not_found", "'\(raw.prefix(100))' is not a \(kind) id; \(kind) ids are positive whole numbers.")
        }
        return id
    }
}

/// Checks of single values that arrive in paths, queries and bodies.
enum Query {
    /// `feed` when it is a valid feed name, else a 422 naming `feed`.
    static func feed(_ feed: String) throws -> String {
        guard Policy.isValidFeed(feed) else {
            throw APIError(.unprocessableContent, code: "invalid_value", PolicyError.invalidFeed(feed).description, field: "feed")
        }
        return feed
    }

    /// The request's query as its parameters, in order: names and values percent-decoded (`?fe%65d=news` is `feed`,
    /// as URLs mean it; Hummingbird decodes values only), an empty pair (`?&feed=news`, `a=1&&b=2`) skipped rather
    /// than read as a parameter named "", and `+` kept as itself (this is a URL's query, not a form). Every route
    /// reads its parameters here.
    /// - Throws: 400 naming the parameter whose name or value is not valid percent-encoding of UTF-8.
    static func pairs(_ request: Request) throws -> [(name: String, value: String)] {
        guard let query = request.uri.query, !query.isEmpty else { return [] }
        return try query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let equals = pair.firstIndex(of: "=")
            let rawName = pair[..<(equals ?? pair.endIndex)], rawValue = equals.map { pair[pair.index(after: $0)...] } ?? ""
            guard let name = percentDecoded(rawName) else {
                throw APIError(.badRequest, code: "malformed_request",
                               "The query parameter name '\(rawName.prefix(64))' is not valid percent-encoding: each % starts two hex digits of UTF-8 (send % itself as %25).")
            }
            guard let value = percentDecoded(rawValue) else {
                throw APIError(.badRequest, code: "malformed_request",
                               "The value of query parameter '\(name.prefix(64))' is not valid percent-encoding: each % starts two hex digits of UTF-8 (send % itself as %25).",
                               field: String(name.prefix(64)))
            }
            return (name, value)
        }
    }

    /// `text` with each `%XX` replaced by its byte, read as UTF-8; nil when a `%` is not followed by two hex digits or
    /// the bytes are not UTF-8. Every byte is kept: Foundation's `removingPercentEncoding` drops a leading byte-order
    /// mark, so `%EF%BB%BFdefault` read as the feed `default` and `/v1/items/%EF%BB%BFa` as item `a` (outside testing).
    static func percentDecoded(_ text: some StringProtocol) -> String? {
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        let encoded = Array(text.utf8)
        guard encoded.contains(UInt8(ascii: "%")) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encoded.count)
        var i = 0
        while i < encoded.count {
            if encoded[i] == UInt8(ascii: "%") {
                guard i + 2 < encoded.count, let high = hex(encoded[i + 1]), let low = hex(encoded[i + 2]) else { return nil }
                bytes.append(high << 4 | low)
                i += 3
            } else {
                bytes.append(encoded[i])
                i += 1
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Query parameter `name`, percent-decoded; nil when absent (`pairs`).
    static func string(_ request: Request, _ name: String) throws -> String? {
        try pairs(request).first { $0.name == name }?.value
    }

    /// Query parameter `name` as `true` or `false`, nil when absent.
    /// - Throws: 422 naming the parameter when it is anything else.
    static func bool(_ request: Request, _ name: String) throws -> Bool? {
        guard let text = try string(request, name) else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default: throw APIError(.unprocessableContent, code: "invalid_value", "\(name) is true or false", field: name)
        }
    }

    /// The ISO 8601 time in query parameter `name`, nil when absent.
    /// - Throws: 422 naming the parameter when it is not a time.
    static func time(_ request: Request, _ name: String) throws -> Date? {
        guard let text = try string(request, name) else { return nil }
        guard let date = ISOTime.parse(text) else {
            throw APIError(.unprocessableContent, code: "invalid_value", "\(name) is an ISO 8601 time such as 2026-11-26T00:00:00Z", field: name)
        }
        return date
    }

    /// The whole number in query parameter `name` (within `range` when given), `default` when absent.
    static func integer<T: FixedWidthInteger>(_ request: Request, _ name: String, in range: ClosedRange<T>? = nil, default value: T?) throws -> T? {
        guard let text = try string(request, name) else { return value }
        guard let n = canonicalInteger(text, as: T.self), range?.contains(n) ?? true else {
            let within = range.map { " from \($0.lowerBound) to \($0.upperBound)" } ?? ""
            throw APIError(.unprocessableContent, code: "invalid_value", "\(name) is a whole number\(within)", field: name)
        }
        return n
    }

    /// `text` as a whole number written as the API writes numbers, nil otherwise: digits only, after a minus sign for
    /// a negative one, no leading zero. "+5" and "05" read as 5 (outside testing), so two spellings of one cursor,
    /// limit or ticket id would pass where "1e1" is refused.
    static func canonicalInteger<T: FixedWidthInteger, S: StringProtocol>(_ text: S, as type: T.Type) -> T? {
        let digits = text.first == "-" ? text.dropFirst() : text[...]
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigitCharacter), digits.count == 1 || digits.first != "0" else { return nil }
        return T(String(text))
    }

    static func itemNotFound(feed: String, id: String) -> APIError {
        // An id longer than any stored one is not echoed (a 70 KB id came back whole in the message).
        guard id.utf8.count <= 256 else {
            return APIError(.notFound, code: "not_found", "No item has an id of \(id.utf8.count) bytes: item ids are 1-256 bytes.")
        }
        return APIError(.notFound, code: "not_found", "No item '\(id)' in feed '\(feed)'. Submit it with POST /v1/items, or pass ?feed=NAME if it is in another feed.")
    }
}

extension Character {
    /// 0-9 only (`isNumber` takes other scripts' digits and fractions).
    var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
}
