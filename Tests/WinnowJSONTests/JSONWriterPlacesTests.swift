import Testing
import WinnowJSON

/// `winnow score`'s numbers: rounded to a number of places, in plain notation (issue 18 kept the old look when the
/// score command moved onto `JSONWriter`).
struct JSONWriterPlacesTests {
    @Test func roundedNumbersAreWrittenPlainWithoutTrailingZeros() throws {
        var w = JSONWriter()
        w.array { w in
            for v in [0.5, 1, 0.0000004, -0.25, 0.000015, 0.1234567, 12.0000001, -0.0000004, 0.999_999_6, 1e20] { w.number(v, places: 6) }
        }
        #expect(w.string == "[0.5,1,0,-0.25,0.000015,0.123457,12,0,1,1e+20]")
        // Every one reads back as the rounded value.
        let values = try JSONParser.parse(w.bytes)
        guard case .array(let items) = values else { Issue.record("not an array"); return }
        #expect(items.count == 10)
    }
}
