// libFuzzer target for the request body reader, both halves (`make fuzz`): built by swiftc with
// -sanitize=fuzzer,address together with Sources/WinnowJSON, outside SwiftPM (SwiftPM would sanitize every package).
//
// For every input: the parser never crashes; what it accepts survives a round trip (written back with JSONWriter,
// parsed again, the same value); the strict decoder, on item-shaped bodies, never crashes and either decodes or
// names an error; the fast item reader (`JSONScanner`) never crashes, and whatever it accepts the strict decoder
// reads to the same value (the fast path may give up, never disagree); the shared string reader, started at every
// quote, never reads outside the input.
import Foundation

let decoder = StrictDecoder(parseDate: { try? Date.ISO8601FormatStyle().parse($0) }, dateHint: "an ISO 8601 time")

/// A number's value as the writer writes it (a non-finite value, which JSON cannot hold, as 0).
func number(_ text: String) -> Double {
    let d = Double(text) ?? 0
    return d.isFinite ? d : 0
}

/// The value with its numbers as values (`1.0` and `1` are one number once written back).
func normalized(_ value: JSONValue) -> JSONValue {
    switch value {
    case let .number(text): .number("\(number(text) == 0 ? 0 : number(text))")  // -0 is written as 0
    case let .array(elements): .array(elements.map(normalized))
    case let .object(members): .object(members.map { JSONMember(key: $0.key, value: normalized($0.value)) })
    default: value
    }
}

func write(_ value: JSONValue, _ w: inout JSONWriter) {
    switch value {
    case .null: w.null()
    case let .bool(b): w.bool(b)
    case let .number(text): w.number(number(text))
    case let .string(s): w.string(s)
    case let .array(elements): w.array { w in for e in elements { write(e, &w) } }
    case let .object(members): w.object { w in for m in members { w.key(m.key); write(m.value, &w) } }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let value = try? JSONParser.parse(bytes) {
        var w = JSONWriter()
        write(value, &w)
        let again = w.withBytes { try? JSONParser.parse($0) }
        precondition(again.map(normalized) == normalized(value), "a parsed value did not survive being written back")
    }
    let item: ScannedItem?, batch: ScannedBatch?
    do { item = try decoder.decode(ScannedItem.self, from: bytes) } catch { precondition(!error.message.isEmpty); item = nil }
    do { batch = try decoder.decode(ScannedBatch.self, from: bytes) } catch { precondition(!error.message.isEmpty); batch = nil }
    if let fast = ScannedItem.scan(bytes) { precondition(fast == item, "the fast reader read an item the strict decoder reads otherwise") }
    if let fast = ScannedBatch.scan(bytes) { precondition(fast == batch, "the fast reader read a batch the strict decoder reads otherwise") }
    for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\"") {
        if let (_, end) = JSONString.read(bytes, from: i + 1) { precondition(end > i && end <= size) }
    }
    return 0
}
