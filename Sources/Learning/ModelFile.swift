import Foundation

/// The binary model file (`.winnow`), little-endian:
///
/// ```
/// "WNNW"                      magic, 4 bytes
/// UInt16 format version       1
/// UInt16 reserved             0
/// UInt32 header length H
/// H bytes                     JSON header (`ModelHeader`, sorted keys)
/// UInt32 section count
/// sections:  tag (4 ASCII bytes) · UInt8 type · 3 zero bytes · UInt64 element count · UInt64 byte length · payload
/// UInt32 CRC-32 (IEEE) of every byte before it
/// ```
/// Section types: 1 = UInt32 indices, ascending, delta-encoded as LEB128 varints; 2 = Float32; 3 = Float64;
/// 4 = Float16. Only buckets with weight are stored.
/// Naive Bayes: `NBCC` class counts (Float64, K), `NBFI` feature buckets, `NBFC` counts (Float32 when
/// every count is an integer below 2²⁴, else Float64; bucket-major, K per bucket).
/// Logistic: `LRCI` buckets, `LRCO` coefficients (Float16, K per bucket), `LRIN` intercepts (Float64, K).
public enum ModelFile {
    public static let magic: [UInt8] = Array("WNNW".utf8)
    public static let formatVersion = 1
    public static let readableFormats = 1...1

    enum SectionType: UInt8 { case indices = 1, float32 = 2, float64 = 3, float16 = 4 }

    /// A header's decoding error in the header's own terms (`the field 'training.classCounts' is missing`), not
    /// Swift's (`keyNotFound(CodingKeys(stringValue: …))`).
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce(into: "") { out, key in
                if let index = key.intValue { out += "[\(index)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
            }
        }
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case let .keyNotFound(key, context):
            return "the field '\(path(context.codingPath + [key]))' is missing"
        case let .valueNotFound(_, context):
            return "the field '\(path(context.codingPath))' is null"
        case let .typeMismatch(type, context):
            guard !context.codingPath.isEmpty else { return "the header is not a JSON object" }
            let name = "\(type)"
            let expected = name.hasPrefix("Array") ? "a list" : name.hasPrefix("Dictionary") ? "an object" : name == "String" ? "a string"
                : name == "Bool" ? "true or false" : ["Int", "Double", "Float", "UInt"].contains(where: name.hasPrefix) ? "a number" : name
            return "the field '\(path(context.codingPath))' is not \(expected)"
        case let .dataCorrupted(context):
            guard context.codingPath.isEmpty else { return "the field '\(path(context.codingPath))' is not valid: \(context.debugDescription)" }
            // At the top: JSON that does not parse, or a number its field cannot hold (`18.5` bits, `1e400`), which
            // Foundation's decoder reports alike, without the field.
            return "it is not valid JSON, or a number in it does not fit its field (a fraction where a whole number goes, or one beyond a 64-bit float)"
        @unknown default:
            return "\(error)"
        }
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func varint(_ v: UInt32) {
        var x = v
        while x >= 0x80 { bytes.append(UInt8(x & 0x7F) | 0x80); x >>= 7 }
        bytes.append(UInt8(x))
    }

    mutating func section(_ tag: String, _ type: ModelFile.SectionType, count: Int, payload: (inout ByteWriter) -> Void) {
        bytes.append(contentsOf: Array(tag.utf8))
        u8(type.rawValue); u8(0); u8(0); u8(0)
        u64(UInt64(count))
        var body = ByteWriter()
        payload(&body)
        u64(UInt64(body.bytes.count))
        bytes.append(contentsOf: body.bytes)
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    mutating func take(_ n: Int, _ what: String) throws -> ArraySlice<UInt8> {
        guard n >= 0, offset + n <= bytes.count else {
            throw LearningError.corruptModel("The model file ends early (truncated while reading \(what) at byte \(offset)).")
        }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }
    mutating func u8(_ what: String) throws -> UInt8 { try take(1, what).first! }
    mutating func u16(_ what: String) throws -> UInt16 {
        let s = try take(2, what); return UInt16(s[s.startIndex]) | UInt16(s[s.startIndex + 1]) << 8
    }
    mutating func u32(_ what: String) throws -> UInt32 {
        let s = try take(4, what)
        var v: UInt32 = 0
        for (i, b) in s.enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }
    mutating func u64(_ what: String) throws -> UInt64 {
        let s = try take(8, what)
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }
}

struct Section {
    var type: ModelFile.SectionType
    var count: Int
    var payload: ArraySlice<UInt8>

    func indices(limit: Int, _ tag: String) throws -> [Int32] {
        guard type == .indices else { throw LearningError.corruptModel("Section \(tag) has the wrong type.") }
        var out: [Int32] = []
        out.reserveCapacity(count)
        var p = payload.startIndex
        var previous: Int64 = -1
        for _ in 0..<count {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard p < payload.endIndex, shift <= 28 else { throw LearningError.corruptModel("Section \(tag) has a malformed index.") }
                let b = payload[p]
                p += 1
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            let index = previous < 0 ? Int64(value) : previous + Int64(value) + 1
            guard index < Int64(limit) else { throw LearningError.corruptModel("Section \(tag) names bucket \(index), beyond the model's \(limit).") }
            out.append(Int32(index))
            previous = index
        }
        guard p == payload.endIndex else { throw LearningError.corruptModel("Section \(tag) has trailing bytes.") }
        return out
    }

    func doubles(_ tag: String) throws -> [Double] {
        let width: Int
        switch type {
        case .float16: width = 2
        case .float32: width = 4
        case .float64: width = 8
        case .indices: throw LearningError.corruptModel("Section \(tag) has the wrong type.")
        }
        guard payload.count == count * width else { throw LearningError.corruptModel("Section \(tag) has the wrong length.") }
        var out = [Double](repeating: 0, count: count)
        var p = payload.startIndex
        for i in 0..<count {
            var bits: UInt64 = 0
            for q in 0..<width { bits |= UInt64(payload[p + q]) << (8 * UInt64(q)) }
            p += width
            let v: Double
            switch type {
            case .float16: v = Double(Float16(bitPattern: UInt16(bits)))
            case .float32: v = Double(Float(bitPattern: UInt32(bits)))
            default: v = Double(bitPattern: bits)
            }
            guard v.isFinite else { throw LearningError.corruptModel("Section \(tag) holds a value that is not finite.") }
            out[i] = v
        }
        return out
    }
}

extension TextClassifier {
    /// The model as the bytes of a `.winnow` file.
    public func serialized() throws -> [UInt8] {
        var w = ByteWriter()
        w.bytes.append(contentsOf: ModelFile.magic)
        w.u16(UInt16(ModelFile.formatVersion))
        w.u16(0)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(header)
        w.u32(UInt32(json.count))
        w.bytes.append(contentsOf: json)
        let k = naiveBayes?.classes ?? logistic?.classes ?? classes.count  // the estimator's own shape
        func writeIndices(_ tag: String, _ indices: [Int32]) {
            w.section(tag, .indices, count: indices.count) { body in
                var previous: Int32 = -1
                for j in indices {
                    body.varint(UInt32(previous < 0 ? j : j - previous - 1))
                    previous = j
                }
            }
        }
        if let nb = naiveBayes {
            w.u32(3)
            w.section("NBCC", .float64, count: k) { body in for v in nb.classCount { body.u64(v.bitPattern) } }
            let used = nb.observedFeatures()
            writeIndices("NBFI", used)
            let values = used.flatMap { j in (0..<k).map { nb.featureCount[Int(j) * k + $0] } }
            let exact = values.allSatisfy { $0 == $0.rounded() && abs($0) < 16_777_216 }
            w.section("NBFC", exact ? .float32 : .float64, count: values.count) { body in
                for v in values { if exact { body.u32(Float(v).bitPattern) } else { body.u64(v.bitPattern) } }
            }
        } else if let lr = logistic {
            w.u32(3)
            writeIndices("LRCI", lr.columns)
            w.section("LRCO", .float16, count: lr.coefficients.count) { body in
                for v in lr.coefficients { body.u16(Float16(Float(v)).bitPattern) }
            }
            w.section("LRIN", .float64, count: k) { body in for v in lr.intercept { body.u64(v.bitPattern) } }
        }
        let crc = CRC32.checksum(w.bytes)
        w.u32(crc)
        return w.bytes
    }

    /// Reads a `.winnow` file's bytes, refusing anything truncated, corrupted, of a newer format, or built
    /// with a featurizer this build does not implement.
    public init(serialized bytes: [UInt8]) throws {
        var r = ByteReader(bytes: bytes)
        guard bytes.count >= 4, Array(bytes[0..<4]) == ModelFile.magic else {
            throw LearningError.corruptModel("This is not a Winnow model file (it does not start with \"WNNW\").")
        }
        r.offset = 4
        let format = Int(try r.u16("the format version"))
        guard ModelFile.readableFormats.contains(format) else {
            throw LearningError.unsupportedFormat(found: format, supported: ModelFile.readableFormats)
        }
        guard bytes.count >= 16 else { throw LearningError.corruptModel("The model file ends early (\(bytes.count) bytes).") }
        let stored = UInt32(bytes[bytes.count - 4]) | UInt32(bytes[bytes.count - 3]) << 8
            | UInt32(bytes[bytes.count - 2]) << 16 | UInt32(bytes[bytes.count - 1]) << 24
        let actual = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 4)])) }
        guard stored == actual else {
            throw LearningError.corruptModel("The model file's checksum does not match (stored \(String(stored, radix: 16)), computed \(String(actual, radix: 16))): it was truncated or altered.")
        }
        r = ByteReader(bytes: Array(bytes[0..<(bytes.count - 4)]), offset: 8)
        let headerLength = Int(try r.u32("the header length"))
        let json = try r.take(headerLength, "the header")
        let header: ModelHeader
        do {
            header = try JSONDecoder().decode(ModelHeader.self, from: Data(json))
        } catch {
            throw LearningError.corruptModel("The model header is not valid: \(ModelFile.describe(error)).")
        }
        try header.featurizer.checkCompatible()
        let k = header.classes.count
        guard k >= 2, Set(header.classes).count == k, header.training.classCounts.count == k else {
            throw LearningError.corruptModel("The model header lists \(k) classes; a model needs at least two distinct ones, with a count for each.")
        }
        guard header.calibration.temperature.isFinite, header.calibration.temperature > 0 else {
            throw LearningError.corruptModel("The model's calibration temperature \(header.calibration.temperature) is not a positive number.")
        }
        if let odds = header.calibration.classOdds {
            guard header.classes.contains(odds.label), odds.temperature.isFinite, odds.temperature > 0 else {
                throw LearningError.corruptModel("The model's odds calibration (class '\(odds.label)', temperature \(odds.temperature)) needs one of its classes (\(header.classes.joined(separator: ", "))) and a positive temperature.")
            }
        }
        let sectionCount = Int(try r.u32("the section count"))
        var sections: [String: Section] = [:]
        for _ in 0..<min(sectionCount, 64) {
            let tag = String(decoding: try r.take(4, "a section tag"), as: UTF8.self)
            guard let type = ModelFile.SectionType(rawValue: try r.u8("a section type")) else {
                throw LearningError.corruptModel("Section \(tag) has an unknown type.")
            }
            _ = try r.take(3, "a section")
            let count = try r.u64("a section count")
            let length = try r.u64("a section length")
            guard count <= UInt64(Int32.max), length <= UInt64(bytes.count) else {
                throw LearningError.corruptModel("Section \(tag) claims an impossible size.")
            }
            sections[tag] = Section(type: type, count: Int(count), payload: try r.take(Int(length), "section \(tag)"))
        }
        guard r.offset == r.bytes.count else { throw LearningError.corruptModel("The model file has unexpected trailing bytes.") }
        func section(_ tag: String) throws -> Section {
            guard let s = sections[tag] else { throw LearningError.corruptModel("The model file lacks its \(tag) section.") }
            return s
        }
        let dimension = header.featurizer.bucketCount
        switch header.kind {
        case .naiveBayes, .complementNaiveBayes:
            guard let config = header.naiveBayes else { throw LearningError.corruptModel("A naive-Bayes model lacks its settings.") }
            let classCount = try section("NBCC").doubles("NBCC")
            let used = try section("NBFI").indices(limit: dimension, "NBFI")
            let values = try section("NBFC").doubles("NBFC")
            guard classCount.count == k, values.count == used.count * k else {
                throw LearningError.corruptModel("The naive-Bayes sections disagree in size.")
            }
            var featureCount = [Double](repeating: 0, count: dimension * k)
            for (p, j) in used.enumerated() { for c in 0..<k { featureCount[Int(j) * k + c] = values[p * k + c] } }
            let nb = try MultinomialNB(classes: k, dimension: dimension, config: config, classCount: classCount, featureCount: featureCount)
            self.init(header: header, naiveBayes: nb)
        case .logistic:
            guard let config = header.logistic else { throw LearningError.corruptModel("A logistic model lacks its settings.") }
            let columns = try section("LRCI").indices(limit: dimension, "LRCI")
            let coefficients = try section("LRCO").doubles("LRCO")
            let intercept = try section("LRIN").doubles("LRIN")
            guard coefficients.count == columns.count * k, intercept.count == k else {
                throw LearningError.corruptModel("The logistic sections disagree in size.")
            }
            let lr = try LogisticRegression(
                classes: k, dimension: dimension, config: config, columns: columns, coefficients: coefficients, intercept: intercept)
            self.init(header: header, logistic: lr)
        }
    }
}
