import Engine
import Foundation
import Learning
import Testing
import WinnowJSON

@testable import Server
@testable import Services

/// The fast reader of item bodies must never disagree with the strict decoder: it either gives the value the strict
/// decoder gives, or gives up (nil) and leaves the document, and its error, to the strict decoder.
@Suite struct JSONScannerTests {
    static func decoded<T: Decodable>(_ type: T.Type, _ text: String) -> T? {
        try? JSON.decode(type, from: Data(text.utf8))
    }

    static func scanned<T: ScannableJSON>(_ type: T.Type, _ text: String) -> T? {
        Array(text.utf8).withUnsafeBytes { T.scan($0) }
    }

    /// Bodies real feeds send: the fast path takes every one of them, and reads what `JSONDecoder` reads.
    @Test(arguments: [
        #"{"id":"a1","text":"hello there"}"#,
        #" { "id" : "a1" , "feed" : "news", "text" : "hi" } "#,
        "{\n\t\"id\": \"a1\",\r\n\"text\": \"two\\nlines, a \\\"quote\\\", a \\\\ and a \\/ slash\\t\\b\\f\\r\"\n}",
        #"{"id":"é-1","text":"naïve café 😀 – ok","language":"fr"}"#,
        #"{"id":"u","text":"\u00e9\u4e2d\ud83d\ude00 \u0041"}"#,
        #"{"id":"a","text":"t","author":{"id":"u1","accountAgeDays":12.5,"followers":300,"priorRemovals":0}}"#,
        #"{"id":"a","text":"t","author":{"id":"u1","accountAgeDays":-0.0,"followers":-0,"priorRemovals":1}}"#,
        #"{"id":"a","text":"t","author":{"id":"u1","accountAgeDays":1e-3}}"#,
        #"{"id":"a","text":"t","author":{"id":"u1","accountAgeDays":3E+2}}"#,
        #"{"id":"a","text":"t","createdAt":"2026-11-26T09:30:00Z"}"#,
        #"{"id":"a","text":"t","createdAt":"2026-11-26T09:30:00.123Z"}"#,
    ])
    func commonBodiesTakeTheFastPathAndReadTheSame(_ body: String) throws {
        let fast = try #require(Self.scanned(API.ItemRequest.self, body), "the fast path gave up on \(body)")
        #expect(fast == Self.decoded(API.ItemRequest.self, body))
        let batch = #"{"items":[\#(body),\#(body)]}"#
        let fastBatch = try #require(Self.scanned(API.BatchRequest.self, batch))
        #expect(fastBatch == Self.decoded(API.BatchRequest.self, batch))
        #expect(fastBatch.items.count == 2)
    }

    /// Malformed, refused or unusual bodies: the fast path gives up, so the strict decoder answers (and names the field).
    @Test(arguments: [
        #"{"id":"a","text":"t",}"#,                         // trailing comma
        #"{"id":"a","text":"t"} x"#,                        // trailing garbage
        #"{"id":"a","text":"t""#,                           // unterminated object
        #"{"id":"a","text":"t"#,                            // unterminated string
        #"{"id":"a","text":"\ud800"}"#,                     // lone high surrogate
        #"{"id":"a","text":"\udc00x"}"#,                    // lone low surrogate
        #"{"id":"a","text":"\x"}"#,                         // unknown escape
        "{\"id\":\"a\",\"text\":\"tab\tinside\"}",          // raw control character
        #"{"id":"a","id":"b","text":"t"}"#,                 // repeated key (JSONDecoder keeps the first)
        #"{"\u0069d":"a","text":"t"}"#,                     // escaped key
        #"{"id":7,"text":"t"}"#,                            // mistyped id
        #"{"text":"t"}"#,                                   // missing id
        #"{"id":"a","text":null}"#,                         // null text
        #"{"id":"a","text":"t","author":{"followers":3}}"#, // author without id
        #"{"id":"a","text":"t","author":{"id":"u","followers":3.0}}"#,  // a whole number written as a fraction
        #"{"id":"a","text":"t","author":{"id":"u","followers":1e2}}"#,
        #"{"id":"a","text":"t","author":{"id":"u","accountAgeDays":1e400}}"#,
        #"{"id":"a","text":"t","author":{"id":"u","followers":0123}}"#,
        #"{"id":"a","text":"t","x":[1,2}"#,
        #"{"id":"a","text":"t","x":tru}"#,
        #"{"id":"a","text":"t","x":-}"#,
        #"{"id":"a","text":"t","x":1.}"#,
        "\u{FEFF}{\"id\":\"a\",\"text\":\"t\"}",           // byte order mark
        #"[{"id":"a","text":"t"}]"#,
        #"{"id":"a","text":"t","feed":null}"#,              // null for an optional field (refused)
        #"{"id":"a","text":"t","createdAt":null}"#,
        #"{"id":"a","text":"t","author":null}"#,
        #"{"id":"a","text":"t","author":{"id":"u","priorRemovals":null}}"#,
        #"{"id":"a","text":"t","autor":{"id":"u"}}"#,       // unknown field (refused, with the nearest name)
        #"{"id":"a","text":"t","author":{"id":"u","followers2":1}}"#,
        #"{"id":"a","text":"t","followers":12345678901234567890}"#,
        #"{"id":"a","text":"t","author":{"id":"u","followers":12345678901234567890}}"#,  // beyond 64 bits
    ])
    func unusualBodiesAreLeftToTheStrictDecoder(_ body: String) {
        #expect(Self.scanned(API.ItemRequest.self, body) == nil)
        #expect(Self.scanned(API.BatchRequest.self, #"{"items":[\#(body)]}"#) == nil)
    }

    /// A time is read as text by both readers and checked with the item's other values (`ItemRequest.submission`), so
    /// in a batch a bad one fails its item alone.
    @Test func bothReadersKeepTheTimeAsText() {
        for time in ["yesterday", "2026-02-30T10:00:00Z", "2026-11-26T09:30:00Z"] {
            let body = #"{"id":"a","text":"t","createdAt":"\#(time)"}"#
            #expect(Self.scanned(API.ItemRequest.self, body)?.createdAt == time)
            #expect(Self.decoded(API.ItemRequest.self, body)?.createdAt == time)
        }
    }

    /// Thousands of corruptions of a valid batch (a byte deleted, replaced or inserted): whenever the fast path
    /// accepts one, the strict decoder accepts it too and reads the same items.
    @Test func corruptedBodiesNeverReadDifferently() {
        let body = Array(#"{"items":[{"id":"a\"1","feed":"f","text":"caf\u00e9 \ud83d\ude00 ok","author":{"id":"u","accountAgeDays":1.5,"followers":20},"createdAt":"2026-11-26T09:30:00Z"},{"id":"b","text":"x y","language":"en"}]}"#.utf8)
        let alphabet = Array(#"{}[]",:\ u0123456789abcdefnrtlsE+-.xé"#.utf8)
        var random = SplitMix64(seed: 2026)
        var accepted = 0
        for trial in 0..<5_000 {
            var bytes = body
            let at = Int.random(in: 0..<bytes.count, using: &random)
            switch trial % 3 {
            case 0: bytes.remove(at: at)
            case 1: bytes[at] = alphabet.randomElement(using: &random)!
            default: bytes.insert(alphabet.randomElement(using: &random)!, at: at)
            }
            guard let fast = bytes.withUnsafeBytes({ API.BatchRequest.scan($0) }) else { continue }
            accepted += 1
            let slow = try? JSON.decode(API.BatchRequest.self, from: Data(bytes))
            #expect(slow == fast, "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(accepted > 0)
    }
}
