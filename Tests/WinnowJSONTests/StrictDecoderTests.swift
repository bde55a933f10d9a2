import Foundation
import Testing

@testable import WinnowJSON

@Suite struct StrictDecoderTests {
    struct Author: Decodable, Equatable {
        var id: String
        var followers: Int?
    }

    struct Item: Decodable, Equatable {
        var id: String
        var text: String
        var feed: String?
        var author: Author?
        var createdAt: Date?
        var tags: [String]?
    }

    struct Counters: Decodable, Equatable {
        var views: Int
        var share: Double?
    }

    enum Action: String, Decodable, CaseIterable { case allow, remove }
    enum Shade: String, Decodable { case light, dark }

    struct Rule: Decodable, Equatable {
        var action: Action
        var weights: [String: Double]?
    }

    let decoder = StrictDecoder(parseDate: { text in
        let f = ISO8601DateFormatter()
        return f.date(from: text)
    }, dateHint: "an ISO 8601 time such as 2026-11-26T09:30:00Z")

    func decode<T: Decodable>(_ type: T.Type, _ json: String) throws(JSONError) -> T {
        let bytes = Array(json.utf8)
        do {
            return try bytes.withUnsafeBytes { try decoder.decode(type, from: $0) }
        } catch let error as JSONError {
            throw error
        } catch {
            Issue.record("unexpected \(error)")
            throw JSONError(.malformed, field: nil, "")
        }
    }

    func refusal<T: Decodable>(_ type: T.Type, _ json: String) -> JSONError? {
        do {
            _ = try decode(type, json)
            return nil
        } catch {
            return error
        }
    }

    /// A number nearer 0 than a Double holds read as 0 (outside testing: a share of 1e-400 was stored as 0); it is
    /// refused by name, as one beyond the largest is. Zero however written, and the smallest subnormal, are read.
    @Test func aNumberThatWouldReadAsZeroIsRefused() throws {
        #expect(refusal(Counters.self, #"{"views": 1, "share": 1e-400}"#)?.message
                == "'share' is 1e-400, nearer 0 than a 64-bit float holds (about 5e-324): it would read as 0; send 0 if 0 is meant.")
        #expect(refusal(Counters.self, #"{"views": 1, "share": -0.00001e-320}"#)?.field == "share")
        for zero in ["0", "-0", "0.0", "0e-400", "0.000E5"] { #expect(try decode(Counters.self, #"{"views": 1, "share": \#(zero)}"#).share == 0, "\(zero)") }
        #expect(try decode(Counters.self, #"{"views": 1, "share": 5e-324}"#).share == 5e-324)
        for (text, value) in [("1e-400", nil), ("0e-400", 0.0), ("2.5e-3", 0.0025)] as [(String, Double?)] {
            #expect(Array(text.utf8).withUnsafeBytes { bytes in
                var scanner = JSONScanner(bytes)
                return scanner.double()
            } == value, "\(text)")
        }
    }

    @Test func decodesWhatJSONDecoderDecodes() throws {
        let item = try decode(Item.self, #"{"id": "a", "text": "hi \u00e9\ud83d\ude00", "author": {"id": "u", "followers": 12}, "createdAt": "2026-11-26T09:30:00Z", "tags": ["x"]}"#)
        #expect(item == Item(id: "a", text: "hi é😀", feed: nil, author: Author(id: "u", followers: 12),
                             createdAt: Date(timeIntervalSince1970: 1_795_685_400), tags: ["x"]))
        #expect(try decode(Rule.self, #"{"action": "remove", "weights": {"a": 1, "b": 2.5e-1}}"#) == Rule(action: .remove, weights: ["a": 1, "b": 0.25]))
        #expect(try decode(Counters.self, #"{"views": -9223372036854775808, "share": 1e300}"#) == Counters(views: Int.min, share: 1e300))
    }

    @Test func anUnknownFieldIsRefusedWithTheNearestKnownName() {
        let typo = refusal(Item.self, #"{"id": "a", "text": "t", "autor": {"id": "u"}}"#)
        #expect(typo?.kind == .unknownField)
        #expect(typo?.field == "autor")
        #expect(typo?.message == "'autor' is not a field here; did you mean 'author'?")
        let nested = refusal(Item.self, #"{"id": "a", "text": "t", "author": {"id": "u", "folowers": 3}}"#)
        #expect(nested?.field == "author.folowers")
        #expect(nested?.message.hasSuffix("did you mean 'followers'?") == true)
        let far = refusal(Counters.self, #"{"views": 1, "zzzzzzzz": 2}"#)
        #expect(far?.message == "'zzzzzzzz' is not a field here; the fields are share, views.")
        // In arrays too, named by position.
        struct Batch: Decodable { var items: [Item] }
        let inBatch = refusal(Batch.self, #"{"items": [{"id": "a", "text": "t"}, {"id": "b", "text": "t", "extra": 1}]}"#)
        #expect(inBatch?.field == "items[1].extra")
        // A dictionary's keys are its data, never unknown.
        #expect(throws: Never.self) { try decode(Rule.self, #"{"action": "allow", "weights": {"anything": 1}}"#) }
    }

    @Test func nullIsRefusedForOptionalAndRequiredFieldsAlike() {
        let optional = refusal(Item.self, #"{"id": "a", "text": "t", "createdAt": null}"#)
        #expect(optional?.kind == .nullValue)
        #expect(optional?.field == "createdAt")
        #expect(optional?.message == "'createdAt' must not be null; leave the field out instead.")
        let required = refusal(Item.self, #"{"id": null, "text": "t"}"#)
        #expect(required?.kind == .nullValue)
        #expect(required?.field == "id")
        #expect(refusal(Item.self, "null")?.kind == .nullValue)
        #expect(refusal(Item.self, #"{"id": "a", "text": "t", "tags": ["x", null]}"#)?.field == "tags[1]")
    }

    @Test func aRepeatedKeyIsRefusedNotSilentlyResolved() {
        let twice = refusal(Counters.self, #"{"views": 1, "views": 2}"#)
        #expect(twice?.kind == .duplicateField)
        #expect(twice?.field == "views")
        let nested = refusal(Item.self, #"{"id": "a", "text": "t", "author": {"id": "u", "id": "v"}}"#)
        #expect(nested?.field == "author.id")
    }

    @Test func numbersMustFitTheFieldByName() throws {
        let big = refusal(Counters.self, #"{"views": 99999999999999999999}"#)
        #expect(big?.kind == .wrongType)
        #expect(big?.field == "views")
        #expect(big?.message == "'views' is 99999999999999999999, beyond the whole numbers it holds (-9223372036854775808 to 9223372036854775807).")
        let fraction = refusal(Counters.self, #"{"views": 1.5}"#)
        #expect(fraction?.field == "views")
        #expect(fraction?.message == "'views' must be a whole number, not 1.5.")
        #expect(refusal(Counters.self, #"{"views": 1e-2}"#)?.kind == .wrongType)
        #expect(refusal(Counters.self, #"{"views": 1.0e50}"#)?.kind == .wrongType)
        // A whole value is a whole number however it is written (as JSON Schema's `integer` says).
        #expect(try decode(Counters.self, #"{"views": 906.0}"#).views == 906)
        #expect(try decode(Counters.self, #"{"views": 2e3}"#).views == 2_000)
        #expect(try decode(Counters.self, #"{"views": -1.50e1}"#).views == -15)
        #expect(try decode(Counters.self, #"{"views": 1652116532929876.0}"#).views == 1_652_116_532_929_876)
        #expect(try decode(Counters.self, #"{"views": 0.0e-5}"#).views == 0)
        // Zero with any exponent is zero (outside testing: 0e999999999 was "beyond the whole numbers").
        #expect(try decode(Counters.self, #"{"views": 0e999999999}"#).views == 0)
        #expect(try decode(Counters.self, #"{"views": -0.00E99999999999999999999}"#).views == 0)
        let huge = refusal(Counters.self, #"{"views": 1, "share": 1e999}"#)
        #expect(huge?.field == "share")
        #expect(refusal(Counters.self, #"{"views": "1"}"#)?.message == "'views' must be a whole number, not a string.")
    }

    @Test func missingFieldsWrongTypesAndBadValuesAreNamed() {
        #expect(refusal(Item.self, #"{"id": "a"}"#) == JSONError(.missingField, field: "text", "'text' is required."))
        // A misspelt required field is named with it (it read only "'text' is required.").
        #expect(refusal(Item.self, #"{"id": "a", "txt": "t"}"#) == JSONError(.missingField, field: "text", "'text' is required; the body has 'txt': did you mean 'text'?"))
        #expect(refusal(Item.self, #"{"id": "a", "text": "t", "author": {"followers": 1}}"#)?.field == "author.id")
        #expect(refusal(Item.self, #"["id"]"#)?.message == "The body must be an object, not an array.")
        let date = refusal(Item.self, #"{"id": "a", "text": "t", "createdAt": "yesterday"}"#)
        #expect(date?.kind == .invalidValue)
        #expect(date?.message == "'createdAt' must be an ISO 8601 time such as 2026-11-26T09:30:00Z, not 'yesterday'.")
        let action = refusal(Rule.self, #"{"action": "delete"}"#)
        #expect(action?.kind == .invalidValue)
        #expect(action?.field == "action")
        // A listed enum's cases are named (it read "Cannot initialize Action from invalid String value delete").
        #expect(action?.message == "'action' is 'delete'; use one of: allow, remove.")
        // An enum whose cases cannot be listed keeps the decoder's words, still named by its field.
        struct Paint: Decodable { var shade: Shade }
        let shade = refusal(Paint.self, #"{"shade": "grey"}"#)
        #expect(shade?.kind == .invalidValue && shade?.field == "shade" && shade?.message.hasPrefix("'shade': ") == true)
    }

    @Test(arguments: [
        "", "{", #"{"a" 1}"#, "{\"a\": 1,}", "[1 2]", "01", "1.", "-", "tru", #""\x""#, #""\ud800""#, "\"a\u{01}b\"", "{} {}",
        "\u{FEFF}{}", "[\"\\u00\"]",
    ])
    func malformedDocumentsAreRefusedAsMalformed(_ json: String) {
        #expect(refusal(JSONValueBox.self, json)?.kind == .malformed)
    }

    @Test func utf16AndInvalidUTF8AndDeepNestingAreMalformed() throws {
        let utf16 = Array("{\"a\": 1}".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        #expect(throws: JSONError.self) { try JSONParser.parse(utf16) }
        #expect(throws: JSONError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONError.self) { try JSONParser.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONParser.parse(Array(fine.utf8))
    }

    /// Any JSON value (for the grammar tests).
    struct JSONValueBox: Decodable {
        init(from decoder: any Decoder) throws {}
    }
}
