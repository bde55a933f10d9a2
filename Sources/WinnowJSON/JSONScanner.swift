import Foundation

/// A request body type with a fast reader for the common case. The server tries `scan` first and falls back to
/// the strict decoder (`StrictDecoder`) when it answers nil, so the fast path only has to be right about what it
/// accepts: anything unusual or refused (a malformed body, a mistyped field, a repeated, escaped or unknown key, a
/// null) goes to the strict decoder, which decides it and names the field in its error.
public protocol ScannableJSON {
    /// The value when `bytes` is a document this reader fully understands and the strict decoder would decode to
    /// the same value; nil otherwise (never a wrong value).
    static func scan(_ bytes: UnsafeRawBufferPointer) -> Self?
}

/// A forward-only reader over the bytes of one JSON document, for the item submission bodies: `JSONDecoder` cost
/// a sixth of the server's time under batches (its generic containers, coding paths and boxed values). Every
/// method consumes what it reads and answers nil or false, without consuming a predictable amount, when the input
/// is not what it expects; the caller then gives up on the whole document.
public struct JSONScanner {
    private let bytes: UnsafeRawBufferPointer
    private var i = 0

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// True when only white space is left.
    public var atEnd: Bool {
        mutating get {
            skipSpace()
            return i == bytes.count
        }
    }

    private mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    /// The next byte after white space, without consuming it; nil at the end.
    public mutating func peek() -> UInt8? {
        skipSpace()
        return i < bytes.count ? bytes[i] : nil
    }

    /// A number's text as written (valid by JSON's grammar), for values kept digit for digit (ids).
    public mutating func numberLiteral() -> String? {
        guard let (text, _) = numberText() else { return nil }
        return String(decoding: text, as: UTF8.self)
    }

    /// Consumes `byte` (after white space) when it is next.
    public mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard i < bytes.count, bytes[i] == byte else { return false }
        i += 1
        return true
    }

    /// Reads an object, handing each member's key (raw bytes; keys with escapes give up) to `member`, which must
    /// consume the value and answer false to give up.
    public mutating func object(_ member: (inout JSONScanner, UnsafeRawBufferPointer) -> Bool) -> Bool {
        guard take(UInt8(ascii: "{")) else { return false }
        if take(UInt8(ascii: "}")) { return true }
        repeat {
            skipSpace()
            guard let key = rawKey(), take(UInt8(ascii: ":")), member(&self, key) else { return false }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}"))
    }

    /// Reads an array, calling `element` for each element (it must consume it; false gives up).
    public mutating func array(_ element: (inout JSONScanner) -> Bool) -> Bool {
        guard take(UInt8(ascii: "[")) else { return false }
        if take(UInt8(ascii: "]")) { return true }
        repeat {
            guard element(&self) else { return false }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]"))
    }

    /// A key's bytes between its quotes, when it is valid UTF-8 without escapes or control characters.
    private mutating func rawKey() -> UnsafeRawBufferPointer? {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
        var j = i + 1
        var ascii = true
        while j < bytes.count {
            let b = bytes[j]
            if b == UInt8(ascii: "\"") { break }
            if b == UInt8(ascii: "\\") || b < 0x20 { return nil }
            if b >= 0x80 { ascii = false }
            j += 1
        }
        guard j < bytes.count else { return nil }
        let key = UnsafeRawBufferPointer(rebasing: bytes[(i + 1)..<j])
        guard ascii || String(validating: key, as: UTF8.self) != nil else { return nil }
        i = j + 1
        return key
    }

    /// A string value, with its escapes decoded (`JSONString`); nil for anything else, invalid UTF-8, a raw control
    /// character or a lone surrogate.
    public mutating func string() -> String? {
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\""), let (value, end) = JSONString.read(bytes, from: i + 1) else { return nil }
        i = end
        return value
    }

    /// The extent of a number by JSON's grammar, and whether it is a plain integer (no fraction or exponent).
    private mutating func numberText() -> (text: UnsafeRawBufferPointer, integer: Bool)? {
        skipSpace()
        let start = i
        var j = i
        func digits(_ j: inout Int) -> Int {
            let from = j
            while j < bytes.count, bytes[j] >= UInt8(ascii: "0"), bytes[j] <= UInt8(ascii: "9") { j += 1 }
            return j - from
        }
        if j < bytes.count, bytes[j] == UInt8(ascii: "-") { j += 1 }
        let first = j
        let whole = digits(&j)
        guard whole > 0, !(whole > 1 && bytes[first] == UInt8(ascii: "0")) else { return nil }
        var integer = true
        if j < bytes.count, bytes[j] == UInt8(ascii: ".") {
            j += 1
            guard digits(&j) > 0 else { return nil }
            integer = false
        }
        if j < bytes.count, bytes[j] == UInt8(ascii: "e") || bytes[j] == UInt8(ascii: "E") {
            j += 1
            if j < bytes.count, bytes[j] == UInt8(ascii: "+") || bytes[j] == UInt8(ascii: "-") { j += 1 }
            guard digits(&j) > 0 else { return nil }
            integer = false
        }
        i = j
        return (UnsafeRawBufferPointer(rebasing: bytes[start..<j]), integer)
    }

    /// A whole number written without fraction or exponent, of at most 18 digits.
    public mutating func integer() -> Int? {
        guard let (text, integer) = numberText(), integer, text.count <= 18 else { return nil }
        var value = 0
        var negative = false
        for b in text {
            if b == UInt8(ascii: "-") { negative = true } else { value = value * 10 + Int(b - UInt8(ascii: "0")) }
        }
        return negative ? -value : value
    }

    /// A finite number.
    public mutating func double() -> Double? {
        guard let (text, _) = numberText(), text.count <= 64,
              let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite, !Self.underflows(text, to: value) else { return nil }
        return value
    }

    /// Whether a number's text names a value other than 0 that reads as 0 (`1e-400`): a digit other than 0 before the
    /// exponent, and the value 0. Such a number is refused, as one beyond the largest is, rather than read as 0.
    public static func underflows(_ text: some Collection<UInt8>, to value: Double) -> Bool {
        value == 0 && text.prefix { $0 != UInt8(ascii: "e") && $0 != UInt8(ascii: "E") }.contains { (UInt8(ascii: "1")...UInt8(ascii: "9")).contains($0) }
    }
}

extension UnsafeRawBufferPointer {
    /// Whether these bytes spell `name` (an ASCII key).
    @inline(__always) public func `is`(_ name: StaticString) -> Bool {
        count == name.utf8CodeUnitCount && memcmp(baseAddress!, name.utf8Start, count) == 0
    }
}

/// The known keys an object has shown so far: a repeated key makes the fast reader give up (the strict decoder decides).
public struct SeenKeys {
    private var bits: UInt8 = 0

    public init() {}

    /// True the first time `bit` is marked.
    public mutating func first(_ bit: UInt8) -> Bool {
        defer { bits |= bit }
        return bits & bit == 0
    }
}
