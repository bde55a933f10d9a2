import Foundation

/// Decodes `Decodable` values from JSON the way a strict API should, where `JSONDecoder` is lenient:
/// - a key the type does not read is refused, naming the field and the nearest known one (`'autor' is not a field
///   here; did you mean 'author'?`);
/// - `null` is refused for optional fields (they are left out instead; `nullMeansNone` allows it), as for required ones;
/// - a key given twice is refused (`JSONParser`);
/// - a whole number must be written as one and fit in its type (`1.5` or `99999999999999999999` for an `Int` is
///   refused by name, not rounded or reported as malformed JSON);
/// - every error names its field as a path (`items[3].author.id`).
///
/// Unknown keys are found after the value is built: every object remembers which keys its type asked for (a
/// synthesized `init(from:)` asks for each of its keys, present or not), and any other key is unknown.
public struct StrictDecoder: Sendable {
    /// Reads a time from its text; nil refuses it with `dateHint`.
    public var parseDate: @Sendable (String) -> Date?
    /// How a valid time looks, for the error message.
    public var dateHint: String
    /// Whether `null` for an optional field means none, as in a configuration file where `"ageMinutes": null` turns
    /// off a setting whose default is on. Off (request bodies): refused, the field is left out instead.
    public var nullMeansNone: Bool

    public init(parseDate: @escaping @Sendable (String) -> Date?, dateHint: String, nullMeansNone: Bool = false) {
        self.parseDate = parseDate
        self.dateHint = dateHint
        self.nullMeansNone = nullMeansNone
    }

    public func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws(JSONError) -> T {
        try decode(type, from: try JSONParser.parse(bytes))
    }

    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(JSONError) -> T {
        let reads = KeyReads()
        let decoded: T
        do {
            decoded = try T(from: ValueDecoder(value: value, codingPath: [], options: self, reads: reads))
        } catch let error as JSONError {
            throw error
        } catch let error as DecodingError {
            throw Self.error(error)
        } catch {
            // A type's own check in its `init(from:)` (not a decoding error): its words.
            throw JSONError(.invalidValue, field: nil, "\(error)")
        }
        if let unknown = reads.firstUnknown() { throw unknown }
        return decoded
    }

    /// A `DecodingError` thrown by a type's own `init(from:)` (an enum's unknown raw value, a custom check), named by
    /// its field.
    static func error(_ error: DecodingError) -> JSONError {
        switch error {
        case let .keyNotFound(key, context):
            let field = path(context.codingPath + [key])
            return JSONError(.missingField, field: field, "'\(field)' is required.")
        case let .valueNotFound(_, context):
            let field = path(context.codingPath)
            return JSONError(.nullValue, field: field, "'\(field)' must not be null.")
        case let .typeMismatch(_, context):
            let field = path(context.codingPath)
            return JSONError(.wrongType, field: field.isEmpty ? nil : field, "'\(field.isEmpty ? "the body" : field)': \(context.debugDescription)")
        case let .dataCorrupted(context):
            let field = path(context.codingPath)
            return JSONError(.invalidValue, field: field.isEmpty ? nil : field, "'\(field.isEmpty ? "the body" : field)': \(context.debugDescription)")
        @unknown default:
            return JSONError(.invalidValue, field: nil, "\(error)")
        }
    }

    /// A coding path as a field path: `items[3].author.id`.
    public static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let index = key.intValue, key.stringValue == "Index \(index)" || key is IndexKey {
                out += "[\(index)]"
            } else {
                out += (out.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return out
    }

    /// The known name nearest to `unknown` (by edit distance, ignoring case), when it is near enough to be a typo.
    public static func nearest(_ unknown: String, among known: some Sequence<String>) -> String? {
        let target = Array(unknown.lowercased())
        var best: (name: String, distance: Int)?
        for name in known {
            let d = distance(target, Array(name.lowercased()))
            if d < (best?.distance ?? Int.max) { best = (name, d) }
        }
        guard let best, best.distance <= max(2, target.count / 3) else { return nil }
        return best.name
    }

    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

/// An array index in a coding path.
struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue!)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

/// Which keys of each object of the document the types asked for.
final class KeyReads {
    struct Object {
        var path: [any CodingKey]
        var keys: [String]
        var asked: Set<String> = []
        var all = false
    }

    /// By field path (two containers over one object share an entry).
    private var objects: [String: Int] = [:]
    private var list: [Object] = []

    func register(path: [any CodingKey], members: [JSONMember]) -> Int {
        let name = StrictDecoder.path(path)
        if let index = objects[name] { return index }
        list.append(Object(path: path, keys: members.map(\.key)))
        objects[name] = list.count - 1
        return list.count - 1
    }

    func ask(_ key: String, in object: Int) { list[object].asked.insert(key) }
    func askAll(in object: Int) { list[object].all = true }

    /// The first key (in document order) that no type asked for.
    func firstUnknown() -> JSONError? {
        for object in list where !object.all {
            for key in object.keys where !object.asked.contains(key) {
                let field = StrictDecoder.path(object.path + [AnyKey(key)])
                var message = "'\(field)' is not a field here"
                if let near = StrictDecoder.nearest(key, among: object.asked.sorted()) {
                    message += "; did you mean '\(near)'?"
                } else {
                    message += object.asked.isEmpty ? "; this object takes no fields." : "; the fields are \(object.asked.sorted().joined(separator: ", "))."
                }
                return JSONError(.unknownField, field: field, message)
            }
        }
        return nil
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let options: StrictDecoder
    let reads: KeyReads
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    var field: String { StrictDecoder.path(codingPath) }

    func wrongType(_ expected: String) -> JSONError {
        if case .null = value {
            return JSONError(.nullValue, field: field.isEmpty ? nil : field,
                             field.isEmpty ? "The body must be \(expected), not null." : "'\(field)' must be \(expected), not null.")
        }
        return JSONError(.wrongType, field: field.isEmpty ? nil : field,
                         "\(field.isEmpty ? "The body" : "'\(field)'") must be \(expected), not \(value.kind).")
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case let .object(members) = value else { throw wrongType("an object") }
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, members: members,
                                                          object: reads.register(path: codingPath, members: members)))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case let .array(elements) = value else { throw wrongType("an array") }
        return UnkeyedContainer(decoder: self, elements: elements)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValue(decoder: self) }

    func child(_ value: JSONValue, _ key: any CodingKey) -> ValueDecoder {
        ValueDecoder(value: value, codingPath: codingPath + [key], options: options, reads: reads)
    }

    // MARK: Scalars

    func decodeScalar<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is String.Type:
            guard case let .string(s) = value else { throw wrongType("a string") }
            return s as! T
        case is Bool.Type:
            guard case let .bool(b) = value else { throw wrongType("true or false") }
            return b as! T
        case is Double.Type:
            return try double() as! T
        case is Float.Type:
            return Float(try double()) as! T
        case is Int.Type: return try integer(Int.self) as! T
        case is Int64.Type: return try integer(Int64.self) as! T
        case is Int32.Type: return try integer(Int32.self) as! T
        case is UInt.Type: return try integer(UInt.self) as! T
        case is UInt64.Type: return try integer(UInt64.self) as! T
        case is UInt32.Type: return try integer(UInt32.self) as! T
        case is Int16.Type: return try integer(Int16.self) as! T
        case is Int8.Type: return try integer(Int8.self) as! T
        case is UInt16.Type: return try integer(UInt16.self) as! T
        case is UInt8.Type: return try integer(UInt8.self) as! T
        case is Date.Type:
            guard case let .string(s) = value else { throw wrongType("a time as text, \(options.dateHint)") }
            guard let date = options.parseDate(s) else {
                throw JSONError(.invalidValue, field: field, "'\(field)' must be \(options.dateHint), not '\(s.prefix(40))'.")
            }
            return date as! T
        default:
            do {
                return try T(from: self)
            } catch DecodingError.dataCorrupted where Self.names(of: T.self) != nil {
                // A string enum's unknown case: the cases, not Swift's "Cannot initialize X from invalid String value".
                let given = if case let .string(s) = value { "'\(s.prefix(64))'" } else { value.kind }
                throw JSONError(.invalidValue, field: field.isEmpty ? nil : field,
                                "'\(field.isEmpty ? "the body" : field)' is \(given); use one of: \(Self.names(of: T.self)!.joined(separator: ", ")).")
            }
        }
    }

    /// The raw values of a string enum whose cases can be listed; nil for any other type.
    static func names(of type: Any.Type) -> [String]? {
        guard let listed = type as? any CaseIterable.Type else { return nil }
        func rawValues<C: CaseIterable>(_ type: C.Type) -> [String] {
            C.allCases.compactMap { ($0 as? any RawRepresentable)?.rawValue as? String }
        }
        let names = rawValues(listed)
        return names.isEmpty ? nil : names
    }

    func double() throws -> Double {
        guard case let .number(text) = value else { throw wrongType("a number") }
        guard let d = Double(text), d.isFinite else {
            throw JSONError(.wrongType, field: field, "'\(field)' is \(text.prefix(40)), beyond the numbers a 64-bit float holds.")
        }
        guard !JSONScanner.underflows(text.utf8, to: d) else {
            // A long spelling is shown by its ends (its first 40 characters alone read as 0.000…).
            let shown = text.count > 40 ? "\(text.prefix(24))…\(text.suffix(12))" : String(text)
            throw JSONError(.wrongType, field: field, "'\(field)' is \(shown), nearer 0 than a 64-bit float holds (about 5e-324): it would read as 0; send 0 if 0 is meant.")
        }
        return d
    }

    /// A whole number, however written (`3`, `3.0`, `3e2`: JSON Schema's integers are values, not spellings), when it
    /// fits `I`.
    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        guard case let .number(text) = value else { throw wrongType("a whole number") }
        if let n = I(text) { return n }
        guard let digits = Self.integerDigits(text) else {
            throw JSONError(.wrongType, field: field, "'\(field)' must be a whole number, not \(text.prefix(40)).")
        }
        guard let n = I(digits) else {
            throw JSONError(.wrongType, field: field, "'\(field)' is \(text.prefix(40)), beyond the whole numbers it holds (\(I.min) to \(I.max)).")
        }
        return n
    }

    /// The digits (with the sign) of a JSON number whose value is whole, written out without fraction or exponent;
    /// nil when it has a fractional part. Exponents beyond 40 give digits no integer type holds.
    static func integerDigits(_ text: String) -> String? {
        var rest = Substring(text)
        var sign = ""
        if rest.first == "-" { sign = "-"; rest = rest.dropFirst() }
        var exponent = 0
        if let e = rest.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            // Zero times any power of ten is zero (`0e999999999` is 0, not a number beyond the whole numbers).
            if rest[..<e].allSatisfy({ $0 == "0" || $0 == "." }) { return "0" }
            guard let x = Int(rest[rest.index(after: e)...]) else { return nil }
            exponent = x
            rest = rest[..<e]
        }
        var whole = rest, fraction: Substring = ""
        if let dot = rest.firstIndex(of: ".") {
            whole = rest[..<dot]
            fraction = rest[rest.index(after: dot)...]
        }
        let digits = Array(whole + fraction)
        let point = whole.count + exponent
        if point <= 0 { return digits.allSatisfy { $0 == "0" } ? "0" : nil }
        if point >= digits.count {
            guard point <= 40 else { return sign + String(repeating: "9", count: 41) }
            return sign + String(digits) + String(repeating: "0", count: point - digits.count)
        }
        guard digits[point...].allSatisfy({ $0 == "0" }) else { return nil }
        return sign + String(digits[..<point])
    }
}

struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: ValueDecoder
    let members: [JSONMember]
    let object: Int

    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        decoder.reads.askAll(in: object)
        return members.compactMap { Key(stringValue: $0.key) }
    }

    func member(_ key: Key) -> JSONValue? {
        decoder.reads.ask(key.stringValue, in: object)
        return members.first { $0.key == key.stringValue }?.value
    }

    func contains(_ key: Key) -> Bool { member(key) != nil }

    /// Whether the member is null: which this decoder refuses (an optional field is left out, not null), unless
    /// `nullMeansNone`.
    func decodeNil(forKey key: Key) throws -> Bool {
        guard let value = member(key) else { return true }
        if case .null = value {
            if decoder.options.nullMeansNone { return true }
            let field = StrictDecoder.path(codingPath + [key])
            throw JSONError(.nullValue, field: field, "'\(field)' must not be null; leave the field out instead.")
        }
        return false
    }

    func require(_ key: Key) throws -> ValueDecoder {
        guard let value = member(key) else {
            let field = StrictDecoder.path(codingPath + [key])
            // A misspelt field ("txt" for "text") is why a required one is missing: name it.
            let given = members.map(\.key).filter { StrictDecoder.nearest($0, among: [key.stringValue]) != nil }
            if let typo = given.first {
                throw JSONError(.missingField, field: field, "'\(field)' is required; the body has '\(StrictDecoder.path(codingPath + [AnyKey(typo)]))': did you mean '\(key.stringValue)'?")
            }
            throw JSONError(.missingField, field: field, "'\(field)' is required.")
        }
        return decoder.child(value, key)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try require(key).decodeScalar(type) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try require(key).decodeScalar(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try require(key).decodeScalar(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try require(key).decodeScalar(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try require(key).decodeScalar(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try require(key).decodeScalar(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try require(key).decodeScalar(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try require(key).decodeScalar(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try require(key).decodeScalar(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try require(key).decodeScalar(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try require(key).decodeScalar(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try require(key).decodeScalar(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try require(key).decodeScalar(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try require(key).decodeScalar(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try require(key).decodeScalar(type) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard try !decodeNil(forKey: key) else { return nil }
        return try require(key).decodeScalar(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try require(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { try require(key).unkeyedContainer() }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { try require(key) }
}

struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: ValueDecoder
    let elements: [JSONValue]
    var currentIndex = 0

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else {
            throw JSONError(.wrongType, field: decoder.field, "'\(decoder.field)' has too few elements.")
        }
        defer { currentIndex += 1 }
        return decoder.child(elements[currentIndex], IndexKey(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, case .null = elements[currentIndex] else { return false }
        let field = StrictDecoder.path(codingPath + [IndexKey(currentIndex)])
        throw JSONError(.nullValue, field: field, "'\(field)' must not be null.")
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeScalar(type) }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try next().decodeScalar(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next().decodeScalar(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next().decodeScalar(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next().decodeScalar(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next().decodeScalar(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next().decodeScalar(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next().decodeScalar(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next().decodeScalar(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next().decodeScalar(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next().decodeScalar(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next().decodeScalar(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next().decodeScalar(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next().decodeScalar(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next().decodeScalar(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}

struct SingleValue: SingleValueDecodingContainer {
    let decoder: ValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool {
        if case .null = decoder.value { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeScalar(type) }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.decodeScalar(type) }
    func decode(_ type: String.Type) throws -> String { try decoder.decodeScalar(type) }
    func decode(_ type: Double.Type) throws -> Double { try decoder.decodeScalar(type) }
    func decode(_ type: Float.Type) throws -> Float { try decoder.decodeScalar(type) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.decodeScalar(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeScalar(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeScalar(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeScalar(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeScalar(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeScalar(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeScalar(type) }
}
