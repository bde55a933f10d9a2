import Foundation
import Learning
import Testing

@testable import WinnowJSON

@Suite struct JSONWriterTests {
    @Test func writesCompactJSONWithSeparatorsInPlace() {
        var w = JSONWriter()
        w.object { w in
            w.field("a", 1)
            w.array("b") { w in
                w.number(0.5)
                w.string("x")
                w.object { w in w.field("c", true) }
                w.null()
            }
            w.object("d") { _ in }
            w.field("e", ifPresent: nil as String?)
            w.field("f", -2.5e-7)
        }
        #expect(w.string == #"{"a":1,"b":[0.5,"x",{"c":true},null],"d":{},"f":-2.5e-07}"#)
    }

    @Test func escapesWhatJSONRequires() throws {
        var w = JSONWriter()
        w.string("q\" b\\ n\n t\t c\u{1} d\u{7F} é😀")
        #expect(w.string == #""q\" b\\ n\n t\t c\u0001 d\u007f é😀""#)
        #expect(try JSONDecoder().decode(String.self, from: Data(w.bytes)) == "q\" b\\ n\n t\t c\u{1} d\u{7F} é😀")
    }

    @Test func timesAreRFC3339WithFourDigitYearsAndMilliseconds() {
        func iso(_ seconds: Double) -> String {
            var w = JSONWriter()
            w.iso8601(Date(timeIntervalSince1970: seconds))
            return w.string
        }
        #expect(iso(0) == #""1970-01-01T00:00:00.000Z""#)
        #expect(iso(1_800_000_000.1239) == #""2027-01-15T08:00:00.123Z""#)
        #expect(iso(-58_979_923_200) == #""0101-01-01T00:00:00.000Z""#)
        #expect(iso(253_402_300_800) == #""10000-01-01T00:00:00.000Z""#)  // five-digit years do not trap
    }

    /// The hot path's answers (`JSONWriter`) and the others (`WireEncoder`) render a time the same way, and a time read
    /// back from a store (seconds since 1970) renders as it was answered. Foundation's own style disagreed with the
    /// writer about once in 14,000 times (2025-11-28T23:03:28.163, at 786,063,808.163 s since 2001, came out as .162).
    @Test func everyAnswerRendersATimeAlikeAndAStoredTimeReadsBackTheSame() throws {
        struct Stamped: Encodable { var at: Date }
        func wire(_ date: Date) throws -> String { String(decoding: try WireEncoder.make().encode(Stamped(at: date)), as: UTF8.self) }
        func writer(_ date: Date) -> String {
            var w = JSONWriter()
            w.object { w in w.field("at", date) }
            return w.string
        }
        let known = Date(timeIntervalSinceReferenceDate: 786_063_808.163)
        #expect(try wire(known) == #"{"at":"2025-11-28T23:03:28.163Z"}"#)
        #expect(writer(known) == #"{"at":"2025-11-28T23:03:28.163Z"}"#)
        var random = SplitMix64(seed: 20)
        for _ in 0..<50_000 {
            let date = Date(timeIntervalSinceReferenceDate: 786_000_000 + Double(random.next() % 1_000_000_000_000) / 1e6)
            let stored = Date(timeIntervalSince1970: date.timeIntervalSince1970)
            let answered = writer(date)
            #expect(try wire(date) == answered)
            #expect(writer(stored) == answered)
            #expect(try wire(stored) == answered)
        }
    }

    /// A time given with milliseconds (a client's `createdAt`, parsed) is written back with the same milliseconds: half
    /// of them came back one lower when the writer truncated seconds since 1970 without rounding to the microsecond.
    @Test func aTimeGivenInMillisecondsIsWrittenWithTheSameOnes() throws {
        var random = SplitMix64(seed: 21)
        for _ in 0..<5_000 {
            let seconds = 1_700_000_000 + Int(random.next() % 200_000_000), millis = Int(random.next() % 1000)
            var text = Date(timeIntervalSince1970: Double(seconds)).formatted(Date.ISO8601FormatStyle())
            text.removeLast()
            text += String(format: ".%03dZ", millis)
            let date = try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
            #expect(JSONWriter.iso8601String(date) == text)
        }
        // Before 1970 too: the second and the millisecond below a negative time.
        #expect(JSONWriter.iso8601String(Date(timeIntervalSince1970: -0.25)) == "1969-12-31T23:59:59.750Z")
        #expect(JSONWriter.iso8601String(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59.000Z")
        // Times no calendar reaches are written, not trapped on.
        for far in [1e15, -1e15, Double.infinity, -Double.infinity] { #expect(!JSONWriter.iso8601String(Date(timeIntervalSince1970: far)).isEmpty) }
    }

    @Test func integersAreWrittenDigitForDigit() {
        var w = JSONWriter()
        w.array { w in
            for n in [0, 7, -7, 10, 99, -100, 1_234_567_890, Int.max, Int.min] { w.number(n) }
            for x in [0.0, -0.0, 42.0, -1e14, 999_999_999_999_999.0, 1e15, 0.1] { w.number(x) }
        }
        #expect(w.string == "[0,7,-7,10,99,-100,1234567890,9223372036854775807,-9223372036854775808,0,0,42,-100000000000000,999999999999999,1000000000000000.0,0.1]")
    }

    /// Fractions in Swift's shortest round-trip form (what `description` gives), and read back exactly.
    @Test func fractionsRoundTripInTheirShortestForm() throws {
        var random = SplitMix64(seed: 11)
        var values: [Double] = [0.1, -0.5, 1e-300, 5e-324, 1.7976931348623157e308, 0.0004035351983852829, 123_456.789, 1e15 + 0.5, -2.5e-7]
        for _ in 0..<2_000 { values.append(Double(bitPattern: random.next())) }
        values = values.filter { $0.isFinite && !($0 == $0.rounded() && abs($0) < 1e15) }
        var w = JSONWriter()
        w.array { w in for x in values { w.number(x) } }
        #expect(w.string == "[" + values.map(\.description).joined(separator: ",") + "]")
        #expect(try JSONDecoder().decode([Double].self, from: Data(w.bytes)) == values)
    }

    @Test func nonFiniteNumbersBecomeNull() {
        var w = JSONWriter()
        w.array { w in w.number(.nan); w.number(.infinity); w.number(3.0) }
        #expect(w.string == "[null,null,3]")
    }
}

@Suite struct JSONWriterKeyTests {
    /// Found by `make fuzz`: keys were written as given, so a key holding a quote or a control character (a model's
    /// class name is data) made the answer invalid JSON.
    @Test func keysAreEscapedAsStringsAre() throws {
        var w = JSONWriter()
        w.object { w in
            w.field("plain", 1)
            w.field("a \"quoted\"\r\nclass\\", 2)
        }
        #expect(w.string == #"{"plain":1,"a \"quoted\"\r\nclass\\":2}"#)
        let parsed = try w.withBytes { try JSONParser.parse($0) }
        #expect(parsed == .object([JSONMember(key: "plain", value: .number("1")), JSONMember(key: "a \"quoted\"\r\nclass\\", value: .number("2"))]))
    }
}
