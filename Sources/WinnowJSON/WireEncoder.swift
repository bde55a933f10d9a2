import Foundation

/// The encoder of the API's answers that are not on a hot path (`JSONWriter` writes those), and of webhook messages:
/// keys sorted, no `\/` escapes (a path in a message reads as written), times as UTC with milliseconds
/// (2026-11-26T05:03:12.145Z), written by `JSONWriter.iso8601` as the hot path writes them.
///
/// One function for every time: Foundation's `ISO8601FormatStyle` truncates the milliseconds from the time's own
/// representation (seconds since 2001), `JSONWriter` from seconds since 1970, and the two disagree by a millisecond
/// about once in 14,000 times, so `POST /v1/items` and `GET /v1/items/{id}` could show the same stored time apart.
public enum WireEncoder {
    public static func make() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(JSONWriter.iso8601String(date))
        }
        return encoder
    }
}
