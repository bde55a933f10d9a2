/// Reads a JSON string's contents (RFC 8259): the one reader of escapes, surrogate pairs and UTF-8 that both the
/// strict parser (`JSONParser`) and the server's fast item reader use.
public enum JSONString {
    /// The string whose contents start at `start` (just after its opening quote), and the index just after its
    /// closing quote; nil for an unfinished string, an unknown or malformed escape, a lone surrogate, a raw control
    /// character or invalid UTF-8.
    @inlinable
    public static func read(_ bytes: UnsafeRawBufferPointer, from start: Int) -> (value: String, end: Int)? {
        // Plain runs (no escapes): the bytes themselves.
        var j = start
        var ascii = true
        while j < bytes.count {
            let b = bytes[j]
            if b == UInt8(ascii: "\"") {
                let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<j])
                guard let value = ascii ? String(decoding: raw, as: UTF8.self) : String(validating: raw, as: UTF8.self) else { return nil }
                return (value, j + 1)
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { return nil }
            if b >= 0x80 { ascii = false }
            j += 1
        }
        return escaped(bytes, from: start)
    }

    /// `read` for a string with escapes: decodes into a buffer.
    @usableFromInline
    static func escaped(_ bytes: UnsafeRawBufferPointer, from start: Int) -> (value: String, end: Int)? {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        var j = start
        while j < bytes.count {
            let b = bytes[j]
            switch b {
            case UInt8(ascii: "\""):
                guard let value = String(validating: out, as: UTF8.self) else { return nil }
                return (value, j + 1)
            case UInt8(ascii: "\\"):
                guard j + 1 < bytes.count else { return nil }
                j += 1
                switch bytes[j] {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard let high = hex4(bytes, at: j + 1) else { return nil }
                    j += 4
                    var scalar = high
                    if (0xD800...0xDBFF).contains(high) {
                        // A high surrogate must be followed by an escaped low one.
                        guard j + 2 < bytes.count, bytes[j + 1] == UInt8(ascii: "\\"), bytes[j + 2] == UInt8(ascii: "u"),
                              let low = hex4(bytes, at: j + 3), (0xDC00...0xDFFF).contains(low) else { return nil }
                        j += 6
                        scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(high) {
                        return nil
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: UTF8.encode(unicode)!)
                default: return nil
                }
                j += 1
            default:
                guard b >= 0x20 else { return nil }
                out.append(b)
                j += 1
            }
        }
        return nil
    }

    static func hex4(_ bytes: UnsafeRawBufferPointer, at k: Int) -> UInt32? {
        guard k + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for n in k..<(k + 4) {
            let b = bytes[n]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}
