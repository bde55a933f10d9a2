import Foundation

/// A minimal, fast JSON writer for the hot paths (stage results into the store, item answers onto the wire),
/// where `JSONEncoder` cost a quarter of the server's CPU. It writes compact JSON that `JSONDecoder` reads back;
/// a round-trip test in each module that uses it keeps the two in step.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Bit d set: the container at depth d already holds a value (the next one needs a comma).
    private var filled: UInt64 = 0
    private var depth = 0

    public init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func separate() {
        guard depth > 0 else { return }
        let bit: UInt64 = 1 << UInt64(depth - 1)
        if filled & bit != 0 { bytes.append(UInt8(ascii: ",")) } else { filled |= bit }
    }

    private mutating func open(_ c: UInt8) {
        bytes.append(c)
        depth += 1
        filled &= ~(1 << UInt64(depth - 1))
    }

    private mutating func close(_ c: UInt8) {
        depth -= 1
        bytes.append(c)
    }

    // MARK: Containers

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        beginValue()
        open(UInt8(ascii: "{"))
        body(&self)
        close(UInt8(ascii: "}"))
    }

    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        beginValue()
        open(UInt8(ascii: "["))
        body(&self)
        close(UInt8(ascii: "]"))
    }

    public mutating func object(_ key: String, _ body: (inout JSONWriter) -> Void) {
        self.key(key)
        object(body)
    }

    public mutating func array(_ key: String, _ body: (inout JSONWriter) -> Void) {
        self.key(key)
        array(body)
    }

    /// Writes `"key":` (keys are written as given: callers pass plain ASCII names); the value follows.
    public mutating func key(_ key: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: key.utf8)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        pendingValue = true
    }

    /// True between a key and its value: the value writes no separator.
    private var pendingValue = false

    private mutating func beginValue() {
        if pendingValue { pendingValue = false } else { separate() }
    }

    // MARK: Values

    public mutating func string(_ value: String) {
        beginValue()
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20, 0x7F:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// A finite number in Swift's shortest round-trip form; NaN and infinities (never expected) become null.
    public mutating func number(_ value: Double) {
        beginValue()
        guard value.isFinite else {
            bytes.append(contentsOf: "null".utf8)
            return
        }
        if value == value.rounded(), abs(value) < 1e15 {
            bytes.append(contentsOf: String(Int64(value)).utf8)
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
    }

    public mutating func number(_ value: Int) {
        beginValue()
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func bool(_ value: Bool) {
        beginValue()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func null() {
        beginValue()
        bytes.append(contentsOf: "null".utf8)
    }

    /// An ISO 8601 UTC time with milliseconds, e.g. `2026-11-26T05:03:12.145Z`.
    public mutating func iso8601(_ date: Date) {
        beginValue()
        let interval = date.timeIntervalSince1970
        let seconds = Int(interval.rounded(.down))
        let millis = min(999, Int(((interval - Double(seconds)) * 1000 + 1e-6).rounded(.down)))  // truncated, as Foundation's style does
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> [UInt8] { [UInt8(48 + n / 10), UInt8(48 + n % 10)] }
        let year = Int(parts.tm_year) + 1900
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: String(year).utf8)
        bytes.append(UInt8(ascii: "-")); bytes.append(contentsOf: two(parts.tm_mon + 1))
        bytes.append(UInt8(ascii: "-")); bytes.append(contentsOf: two(parts.tm_mday))
        bytes.append(UInt8(ascii: "T")); bytes.append(contentsOf: two(parts.tm_hour))
        bytes.append(UInt8(ascii: ":")); bytes.append(contentsOf: two(parts.tm_min))
        bytes.append(UInt8(ascii: ":")); bytes.append(contentsOf: two(parts.tm_sec))
        bytes.append(UInt8(ascii: "."))
        bytes.append(UInt8(48 + millis / 100)); bytes.append(UInt8(48 + millis / 10 % 10)); bytes.append(UInt8(48 + millis % 10))
        bytes.append(UInt8(ascii: "Z"))
        bytes.append(UInt8(ascii: "\""))
    }

    // MARK: Fields (key and value)

    public mutating func field(_ key: String, _ value: String) { self.key(key); string(value) }
    public mutating func field(_ key: String, _ value: Double) { self.key(key); number(value) }
    public mutating func field(_ key: String, _ value: Int) { self.key(key); number(value) }
    public mutating func field(_ key: String, _ value: Bool) { self.key(key); bool(value) }
    /// A time as ISO 8601 with milliseconds.
    public mutating func field(_ key: String, _ value: Date) { self.key(key); iso8601(value) }

    /// Writes the field only when `value` is not nil (as `encodeIfPresent` does).
    public mutating func field(_ key: String, ifPresent value: String?) { if let value { field(key, value) } }
    public mutating func field(_ key: String, ifPresent value: Double?) { if let value { field(key, value) } }
    public mutating func field(_ key: String, ifPresent value: Int?) { if let value { field(key, value) } }
}
