import Foundation

/// Reading the ISO 8601 times Winnow writes and accepts: with or without fractional seconds.
public enum ISOTime {
    /// An RFC 3339 time (`2026-11-26T09:30:00Z`, fractional seconds and a `±HH:MM` offset allowed), or nil. Fields
    /// out of their range are refused (outside testing: `2026-02-30` was read as 2 March and `11:99` as 12:39,
    /// silently: Foundation's parser rolls them over).
    public static func parse(_ text: String) -> Date? {
        guard hasValidFields(text) else { return nil }
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// Whether `text` has RFC 3339's shape with every field in range: month 1-12, a day the month has (29 February
    /// in leap years), hour 0-23, minute 0-59, second 0-59, and an offset of at most 23:59.
    static func hasValidFields(_ text: String) -> Bool {
        let b = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= b.count else { return nil }
            var value = 0
            for i in range {
                guard (48...57).contains(b[i]) else { return nil }
                value = value * 10 + Int(b[i] - 48)
            }
            return value
        }
        guard b.count >= 20, let year = number(0..<4), b[4] == UInt8(ascii: "-"), let month = number(5..<7), b[7] == UInt8(ascii: "-"),
              let day = number(8..<10), [UInt8(ascii: "T"), UInt8(ascii: "t")].contains(b[10]), let hour = number(11..<13),
              b[13] == UInt8(ascii: ":"), let minute = number(14..<16), b[16] == UInt8(ascii: ":"), let second = number(17..<19) else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), (1...days[month - 1]).contains(day), hour <= 23, minute <= 59, second <= 59 else { return false }
        var i = 19
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, (48...57).contains(b[i]) { i += 1 }
            guard i > start else { return false }
        }
        guard i < b.count else { return false }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") { return i + 1 == b.count }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), i + 6 == b.count, let h = number(i + 1..<i + 3), b[i + 3] == UInt8(ascii: ":"),
              let m = number(i + 4..<i + 6) else { return false }
        return h <= 23 && m <= 59
    }

    /// `2026-11-26T09:30:00Z` (UTC, whole seconds).
    public static func format(_ date: Date) -> String {
        Date.ISO8601FormatStyle().format(date)
    }
}
