import Foundation

/// A minimal, fast JSON writer for the hot paths (item answers onto the wire, submissions into the store),
/// where `JSONEncoder` cost a quarter of the server's CPU. It writes compact JSON that `JSONDecoder` reads back;
/// a round-trip test in each module that uses it keeps the two in step.
///
/// The bytes grow in a buffer of its own rather than an `Array` (whose every append checked that the storage was
/// not shared: a tenth of the writer's time), so a writer cannot be copied; write into it through `inout`.
public struct JSONWriter: ~Copyable {
    @usableFromInline var storage: ByteSink
    /// The JSON written so far.
    public var bytes: [UInt8] { storage.withBytes { Array($0) } }
    /// Bit d set: the container at depth d already holds a value (the next one needs a comma).
    @usableFromInline var filled: UInt64 = 0
    @usableFromInline var depth = 0
    /// True between a key and its value: the value writes no separator.
    @usableFromInline var pendingValue = false

    @inlinable
    public init(capacity: Int = 512) {
        storage = ByteSink(capacity: capacity)
    }

    public var string: String { storage.withBytes { String(decoding: $0, as: UTF8.self) } }

    /// Reads the JSON written so far without copying it.
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try storage.withBytes { try body(UnsafeRawBufferPointer($0)) }
    }

    @usableFromInline @inline(__always) mutating func separate() {
        guard depth > 0 else { return }
        let bit: UInt64 = 1 << UInt64(depth - 1)
        if filled & bit != 0 { storage.append(UInt8(ascii: ",")) } else { filled |= bit }
    }

    @usableFromInline @inline(__always) mutating func open(_ c: UInt8) {
        storage.append(c)
        depth += 1
        filled &= ~(1 << UInt64(depth - 1))
    }

    @usableFromInline @inline(__always) mutating func close(_ c: UInt8) {
        depth -= 1
        storage.append(c)
    }

    // MARK: Containers

    @inlinable public mutating func object(_ body: (inout JSONWriter) -> Void) {
        beginValue()
        open(UInt8(ascii: "{"))
        body(&self)
        close(UInt8(ascii: "}"))
    }

    @inlinable public mutating func array(_ body: (inout JSONWriter) -> Void) {
        beginValue()
        open(UInt8(ascii: "["))
        body(&self)
        close(UInt8(ascii: "]"))
    }

    @inlinable public mutating func object(_ key: String, _ body: (inout JSONWriter) -> Void) {
        self.key(key)
        object(body)
    }

    @inlinable public mutating func array(_ key: String, _ body: (inout JSONWriter) -> Void) {
        self.key(key)
        array(body)
    }

    /// Writes `"key":`, escaped as a string is (keys may be data: a model's class names); the value follows.
    @inlinable public mutating func key(_ key: String) {
        separate()
        appendQuoted(key)
        storage.append(UInt8(ascii: ":"))
        pendingValue = true
    }

    /// Copies a string's UTF-8 bytes in one block (literals and native strings are contiguous; appending the
    /// `utf8` view went byte by byte through a generic path, a tenth of the answer's cost).
    @usableFromInline @inline(__always) mutating func appendUTF8(_ value: String) {
        var value = value
        value.withUTF8 { storage.append(contentsOf: $0) }
    }

    /// The decimal digits of `value`, without going through a `String`.
    @usableFromInline mutating func appendDigits(_ value: Int) {
        if value < 0 { storage.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        if magnitude < 10 {
            storage.append(UInt8(ascii: "0") &+ UInt8(magnitude))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // up to 24 digits (UInt.max has 20)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                buffer[23 - count] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            storage.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[(24 - count)...]))
        }
    }

    /// `value` (0...99) as exactly two digits.
    @usableFromInline @inline(__always) mutating func appendTwoDigits(_ value: Int32) {
        storage.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value / 10))
        storage.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10))
    }

    @usableFromInline @inline(__always) mutating func beginValue() {
        if pendingValue { pendingValue = false } else { separate() }
    }

    // MARK: Values

    @inlinable public mutating func string(_ value: String) {
        beginValue()
        appendQuoted(value)
    }

    /// `value` between quotes, escaped where JSON requires it.
    @inlinable mutating func appendQuoted(_ value: String) {
        storage.append(UInt8(ascii: "\""))
        // Most strings need no escaping: copy them whole.
        var value = value
        let copied: Bool = value.withUTF8 { utf8 in
            for byte in utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C || byte == 0x7F { return false }
            storage.append(contentsOf: utf8)
            return true
        }
        if copied {
            storage.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): storage.append(UInt8(ascii: "\\")); storage.append(byte)
            case UInt8(ascii: "\\"): storage.append(UInt8(ascii: "\\")); storage.append(byte)
            case 0x0A: storage.append(UInt8(ascii: "\\")); storage.append(UInt8(ascii: "n"))
            case 0x0D: storage.append(UInt8(ascii: "\\")); storage.append(UInt8(ascii: "r"))
            case 0x09: storage.append(UInt8(ascii: "\\")); storage.append(UInt8(ascii: "t"))
            case 0..<0x20, 0x7F:
                func hex(_ n: UInt8) -> UInt8 { n < 10 ? 48 + n : 87 + n }
                storage.append(UInt8(ascii: "\\")); storage.append(UInt8(ascii: "u")); storage.append(UInt8(ascii: "0")); storage.append(UInt8(ascii: "0"))
                storage.append(hex(byte >> 4)); storage.append(hex(byte & 15))
            default: storage.append(byte)
            }
        }
        storage.append(UInt8(ascii: "\""))
    }

    /// A finite number in Swift's shortest round-trip form; NaN and infinities (never expected) become null.
    @inlinable public mutating func number(_ value: Double) {
        beginValue()
        guard value.isFinite else {
            storage.append("null")
            return
        }
        if value == value.rounded(), abs(value) < 1e15 {
            appendDigits(Int(value))
        } else {
            // The shortest round-trip form, as `description` gives it, without building a `String` on the heap.
            withUnsafeMutablePointer(to: &storage) { sink in
                var stream = DigitStream(sink: sink)
                value.write(to: &stream)
            }
        }
    }

    /// `value` rounded to `places` decimals (0-9) in plain notation without trailing zeros: 0.000015, not 1.5e-05,
    /// for answers people read as well as programs. A value too large for that is written as `number(_:)` writes it.
    @inlinable public mutating func number(_ value: Double, places: Int) {
        let scale = [1.0, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9][min(max(places, 0), 9)]
        let scaled = (value * scale).rounded()
        guard value.isFinite, abs(scaled) < 9e15 else {
            number(value)
            return
        }
        beginValue()
        let units = Int(scale)
        var n = Int(abs(scaled))
        if scaled < 0, n > 0 { storage.append(UInt8(ascii: "-")) }
        appendDigits(n / units)
        n %= units
        guard n > 0 else { return }
        storage.append(UInt8(ascii: "."))
        var width = min(max(places, 0), 9)
        while n % 10 == 0 {
            n /= 10
            width -= 1
        }
        // The fraction's leading zeros, then its digits.
        var length = 0, rest = n
        while rest > 0 {
            rest /= 10
            length += 1
        }
        for _ in length..<width { storage.append(UInt8(ascii: "0")) }
        appendDigits(n)
    }

    /// A number's text as `JSONParser` read it (valid by JSON's grammar), kept digit for digit: an id such as
    /// 12345678901234567890 that no `Double` holds exactly.
    @inlinable public mutating func number(text: String) {
        beginValue()
        appendUTF8(text)
    }

    @inlinable public mutating func number(_ value: Int) {
        beginValue()
        appendDigits(value)
    }

    @inlinable public mutating func bool(_ value: Bool) {
        beginValue()
        if value { storage.append("true") } else { storage.append("false") }
    }

    @inlinable public mutating func null() {
        beginValue()
        storage.append("null")
    }

    /// `iso8601(_:)` as a string, without the quotes: the one rendering of a time in every answer.
    public static func iso8601String(_ date: Date) -> String {
        var w = JSONWriter(capacity: 32)
        w.iso8601(date)
        let quoted = w.string
        return String(quoted.dropFirst().dropLast())
    }

    /// An ISO 8601 UTC time with milliseconds, e.g. `2026-11-26T05:03:12.145Z`: the seconds since 1970 (what the
    /// stores keep, so a stored time reads back as it was answered) rounded to the microsecond, then truncated to the
    /// millisecond (a time given with milliseconds reads back with the same ones).
    @inlinable public mutating func iso8601(_ date: Date) {
        beginValue()
        // To the microsecond first, then truncated to the millisecond: seconds since 1970 carry a representation error
        // of up to a quarter of a microsecond, so a time given as .163 (a client's createdAt) is held as .16299998 and
        // truncating that alone would show .162. Integer arithmetic from there (floor division, for times before 1970).
        let scaled = (date.timeIntervalSince1970 * 1_000_000).rounded()
        // Beyond ±285,000 years (or not finite) the microseconds do not fit an Int: clamp rather than trap.
        let micros = scaled.isFinite && abs(scaled) < 9e18 ? Int(scaled) : (scaled < 0 ? -9_000_000_000_000_000_000 : 9_000_000_000_000_000_000)
        let totalMillis = micros >= 0 ? micros / 1000 : -((-micros + 999) / 1000)
        let seconds = totalMillis >= 0 ? totalMillis / 1000 : -((-totalMillis + 999) / 1000)
        let millis = totalMillis - seconds * 1000
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        let year = Int(parts.tm_year) + 1900
        storage.append(UInt8(ascii: "\""))
        if year < 0 { storage.append(UInt8(ascii: "-")) }
        let digits = abs(year)
        if digits < 1000 { storage.append(UInt8(ascii: "0")) }  // RFC 3339 years have four digits
        if digits < 100 { storage.append(UInt8(ascii: "0")) }
        if digits < 10 { storage.append(UInt8(ascii: "0")) }
        appendDigits(digits)
        storage.append(UInt8(ascii: "-")); appendTwoDigits(parts.tm_mon + 1)
        storage.append(UInt8(ascii: "-")); appendTwoDigits(parts.tm_mday)
        storage.append(UInt8(ascii: "T")); appendTwoDigits(parts.tm_hour)
        storage.append(UInt8(ascii: ":")); appendTwoDigits(parts.tm_min)
        storage.append(UInt8(ascii: ":")); appendTwoDigits(parts.tm_sec)
        storage.append(UInt8(ascii: "."))
        storage.append(UInt8(48 + millis / 100)); storage.append(UInt8(48 + millis / 10 % 10)); storage.append(UInt8(48 + millis % 10))
        storage.append(UInt8(ascii: "Z"))
        storage.append(UInt8(ascii: "\""))
    }

    // MARK: Fields (key and value)

    @inlinable public mutating func field(_ key: String, _ value: String) { self.key(key); string(value) }
    @inlinable public mutating func field(_ key: String, _ value: Double) { self.key(key); number(value) }
    @inlinable public mutating func field(_ key: String, _ value: Int) { self.key(key); number(value) }
    @inlinable public mutating func field(_ key: String, _ value: Bool) { self.key(key); bool(value) }
    /// A time as ISO 8601 with milliseconds.
    @inlinable public mutating func field(_ key: String, _ value: Date) { self.key(key); iso8601(value) }

    /// Writes the field only when `value` is not nil (as `encodeIfPresent` does).
    @inlinable public mutating func field(_ key: String, ifPresent value: String?) { if let value { field(key, value) } }
    @inlinable public mutating func field(_ key: String, ifPresent value: Double?) { if let value { field(key, value) } }
    @inlinable public mutating func field(_ key: String, ifPresent value: Int?) { if let value { field(key, value) } }
}

/// Takes a number's text from `Double.write(to:)`, which hands its stack buffer to `_writeASCII` (the standard
/// library's hook for ASCII output; without it, `write(_:)` still receives the same text as a `String`).
@usableFromInline struct DigitStream: TextOutputStream {
    @usableFromInline let sink: UnsafeMutablePointer<ByteSink>

    @inlinable init(sink: UnsafeMutablePointer<ByteSink>) {
        self.sink = sink
    }

    @inlinable mutating func write(_ string: String) {
        var string = string
        string.withUTF8 { sink.pointee.append(contentsOf: $0) }
    }

    @inlinable mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) {
        sink.pointee.append(contentsOf: buffer)
    }
}

/// Growable bytes owned by one `JSONWriter`: appends check only the capacity.
@usableFromInline struct ByteSink: ~Copyable {
    @usableFromInline var base: UnsafeMutablePointer<UInt8>
    @usableFromInline var count = 0
    @usableFromInline var capacity: Int

    @inlinable init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    @inlinable deinit { base.deallocate() }

    @usableFromInline mutating func grow(toHold needed: Int) {
        let larger = max(needed, capacity * 2)
        let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
        moved.initialize(from: base, count: count)
        base.deallocate()
        base = moved
        capacity = larger
    }

    @inlinable @inline(__always) mutating func append(_ byte: UInt8) {
        if count == capacity { grow(toHold: count + 1) }
        base[count] = byte
        count &+= 1
    }

    @inlinable mutating func append(contentsOf bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        if count + bytes.count > capacity { grow(toHold: count + bytes.count) }
        (base + count).initialize(from: source.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        count &+= bytes.count
    }

    @inlinable mutating func append(contentsOf bytes: UnsafeBufferPointer<UInt8>) {
        append(contentsOf: UnsafeRawBufferPointer(bytes))
    }

    @inlinable mutating func append(_ text: StaticString) {
        append(contentsOf: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inlinable func withBytes<T>(_ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        try body(UnsafeBufferPointer(start: base, count: count))
    }
}
