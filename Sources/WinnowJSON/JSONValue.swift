/// One parsed JSON document, kept as written: numbers as their text (so a whole number beyond 64 bits or a fraction
/// where a whole number belongs can be refused by name, not rounded), objects as their members in order.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number's text, valid by JSON's grammar.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// What a value is, for error messages ("a string", "an object").
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "true or false"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue

    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// Why a request body was refused, with the field it concerns (`items[3].author.id`), in words a client can act on.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Not JSON at all (the grammar, the encoding, the nesting).
        case malformed
        /// A key given twice in one object.
        case duplicateField
        /// A key this body does not have.
        case unknownField
        /// A required key left out.
        case missingField
        /// `null` where a value belongs (optional fields are left out, not null).
        case nullValue
        /// A value of another JSON type, or a number that is not what the field holds.
        case wrongType
        /// The right type but a value the field cannot hold (an unknown enum case, a malformed time).
        case invalidValue
    }

    public var kind: Kind
    /// The field, as a path; nil for the document itself.
    public var field: String?
    public var message: String

    public init(_ kind: Kind, field: String?, _ message: String) {
        self.kind = kind
        self.field = field
        self.message = message
    }

    public var description: String { message }

    /// The message as the reader of a file says it: a broken document's already names it (`JSONParser`'s `document`);
    /// any other names a field, and follows `subject` ("The policy p.json is not a policy: 'rules.x' …").
    public func message(in subject: String) -> String {
        kind == .malformed ? message : "\(subject): \(message)"
    }
}

/// A strict reader of one JSON document (RFC 8259): UTF-8 only, no byte-order mark, no duplicate keys, nesting at
/// most `maximumDepth` deep, nothing but white space after the value.
public struct JSONParser {
    /// Deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private let document: String
    private var i = 0
    private var path: [String] = []

    private init(_ bytes: UnsafeRawBufferPointer, document: String) {
        self.bytes = bytes
        self.document = document
    }

    /// - Parameter document: what the bytes are, as the errors' subject ("The body", "The configuration file x.json").
    public static func parse(_ bytes: UnsafeRawBufferPointer, document: String = "The body") throws(JSONError) -> JSONValue {
        var parser = JSONParser(bytes, document: document)
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            throw JSONError(.malformed, field: nil, "\(document) starts with a byte-order mark; use plain UTF-8 JSON.")
        }
        if bytes.count >= 2, (bytes[0] == 0 || bytes[1] == 0 || (bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF)) {
            throw JSONError(.malformed, field: nil, "\(document) is not UTF-8 (it looks like UTF-16 or UTF-32); use JSON encoded as UTF-8.")
        }
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.i == bytes.count else { throw parser.malformed("more data after the JSON value") }
        return value
    }

    public static func parse(_ bytes: [UInt8], document: String = "The body") throws(JSONError) -> JSONValue {
        do {
            return try bytes.withUnsafeBytes { try parse($0, document: document) }
        } catch let error as JSONError {
            throw error
        } catch {
            throw JSONError(.malformed, field: nil, "\(error)")
        }
    }

    private func malformed(_ what: String) -> JSONError {
        JSONError(.malformed, field: nil, "\(document) is not valid JSON: \(what) at byte \(i); check quotes, commas and brackets.")
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        skipSpace()
        guard i < bytes.count else { throw malformed("it ends where a value belongs") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            guard depth < Self.maximumDepth else { throw malformed("nesting deeper than \(Self.maximumDepth) levels") }
            return try object(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < Self.maximumDepth else { throw malformed("nesting deeper than \(Self.maximumDepth) levels") }
            i += 1
            var elements: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
            while true {
                path.append("[\(elements.count)]")
                elements.append(try value(depth: depth + 1))
                path.removeLast()
                skipSpace()
                guard i < bytes.count else { throw malformed("an unfinished array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
                throw malformed("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw malformed("unexpected character")
        }
    }

    private mutating func object(depth: Int) throws(JSONError) -> JSONValue {
        i += 1
        var members: [JSONMember] = []
        var keys = Set<String>()
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw malformed("expected a key in quotes") }
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw malformed("expected ':' after a key") }
            i += 1
            path.append(path.isEmpty ? key : "." + key)
            guard keys.insert(key).inserted else {
                let field = path.joined()
                throw JSONError(.duplicateField, field: field, "'\(field)' is given twice; give each field once.")
            }
            members.append(JSONMember(key: key, value: try value(depth: depth)))
            path.removeLast()
            skipSpace()
            guard i < bytes.count else { throw malformed("an unfinished object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw malformed("expected ',' or '}'")
        }
    }

    private mutating func literal(_ word: String) throws(JSONError) {
        let utf8 = Array(word.utf8)
        guard i + utf8.count <= bytes.count, (0..<utf8.count).allSatisfy({ bytes[i + $0] == utf8[$0] }) else { throw malformed("unexpected word") }
        i += utf8.count
    }

    private mutating func number() throws(JSONError) -> String {
        let start = i
        func digits(_ i: inout Int) -> Int {
            let from = i
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
            return i - from
        }
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        let first = i
        let whole = digits(&i)
        guard whole > 0, !(whole > 1 && bytes[first] == UInt8(ascii: "0")) else { throw malformed("a malformed number") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits(&i) > 0 else { throw malformed("a malformed number") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits(&i) > 0 else { throw malformed("a malformed number") }
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    }

    private mutating func string() throws(JSONError) -> String {
        guard let (value, end) = JSONString.read(bytes, from: i + 1) else {
            throw malformed("a string that is unfinished, or holds an unknown escape, a lone surrogate, a raw control character or invalid UTF-8")
        }
        i = end
        return value
    }
}

extension JSONValue {
    /// This document with `patch` applied as a JSON merge patch (RFC 7396): an object patch sets each of its members,
    /// recursively, and removes those it sets to null; any other patch replaces the document.
    /// With `keepingIdleNulls`, a null that removes nothing (its member is absent) stays in the result as null, so
    /// that a strict decoder can tell a typo (`"rulse": null`) from an optional field left unset.
    public func merged(with patch: JSONValue, keepingIdleNulls: Bool = false) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var members: [JSONMember] = if case .object(let existing) = self { existing } else { [] }
        for change in changes {
            let index = members.firstIndex { $0.key == change.key }
            if case .null = change.value {
                if let index { members.remove(at: index) } else if keepingIdleNulls { members.append(change) }
            } else if let index {
                members[index].value = members[index].value.merged(with: change.value, keepingIdleNulls: keepingIdleNulls)
            } else {
                members.append(JSONMember(key: change.key, value: JSONValue.null.merged(with: change.value, keepingIdleNulls: keepingIdleNulls)))
            }
        }
        return .object(members)
    }

    /// The paths (`rules.spam`) of the patch's nulls that remove nothing from this document: their member is absent.
    public func idleNulls(in patch: JSONValue, at path: String = "") -> [String] {
        guard case .object(let changes) = patch else { return [] }
        var out: [String] = []
        for change in changes {
            let here = path.isEmpty ? change.key : "\(path).\(change.key)"
            let existing = self[change.key]
            if case .null = change.value {
                if existing == nil { out.append(here) }
            } else {
                out += (existing ?? .null).idleNulls(in: change.value, at: here)
            }
        }
        return out
    }

    /// The member `key` of an object; nil for another value or a missing member.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }
}
