import Foundation

/// The encoder of the API's answers that are not on a hot path (`JSONWriter` writes those), and of webhook messages:
/// keys sorted, no `\/` escapes (a path in a message reads as written), times as UTC with milliseconds
/// (2026-11-26T05:03:12.145Z).
public enum WireEncoder {
    public static func make() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return encoder
    }
}
