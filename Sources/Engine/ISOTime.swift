import Foundation

/// Reading the ISO 8601 times Winnow writes and accepts: with or without fractional seconds.
public enum ISOTime {
    public static func parse(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// `2026-11-26T09:30:00Z` (UTC, whole seconds).
    public static func format(_ date: Date) -> String {
        Date.ISO8601FormatStyle().format(date)
    }
}
