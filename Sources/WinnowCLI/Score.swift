import ArgumentParser
import Foundation
import Learning
import WinnowJSON

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score texts: class probabilities, the predicted class, evidence and the top reasons.",
        discussion: """
            Give texts as arguments, or JSON Lines on standard input ({"id": …, "text": …} per line) for JSON Lines \
            on standard output. A line that cannot be read gets {"line": N, "error": …} and the rest go on; the \
            exit status is then 65.

            Examples:
              winnow score --model models/default.winnow "WIN a FREE prize now"
              winnow score --model models/default.winnow --explain "you absolute clown"
              winnow score --model models/default.winnow < posts.jsonl > scores.jsonl
            """)

    @Option(help: "The model file (.winnow).")
    var model: String

    @Argument(help: "Texts to score; without any, JSON Lines are read from standard input.")
    var texts: [String] = []

    @Option(help: "How many reasons (features pushing toward the predicted class) to give.")
    var reasons: Int = 3

    @Flag(help: "Print JSON lines for texts given as arguments too.")
    var json = false

    @Flag(help: "For texts given as arguments, show the strongest features toward every class, not only the predicted one.")
    var explain = false

    func validate() throws {
        guard (0...50).contains(reasons) else { throw ValidationError("Please give --reasons between 0 and 50; got \(reasons).") }
    }

    func run() throws {
        let classifier = try ModelIO.load(model)
        var scorer: Scorer
        do { scorer = try Scorer(model: classifier) } catch { throw CommandError("\(model): \(error)") }
        if texts.isEmpty {
            if isatty(0) == 1 {
                FileHandle.standardError.write("Reading JSON Lines ({\"id\": …, \"text\": …}) from standard input; end with Ctrl-D. To score a text, give it as an argument.\n".data(using: .utf8)!)
            }
            let failures = try ScoreStream.run(scorer: &scorer, input: 0, output: 1, reasons: reasons)
            if failures > 0 {
                FileHandle.standardError.write("\(failures) input line(s) could not be scored; see the error objects in the output.\n".data(using: .utf8)!)
                throw ExitCode(65)
            }
            return
        }
        var out = OutputBuffer(fd: 1)
        for (i, text) in texts.enumerated() {
            let prediction = scorer.score(text, reasons: reasons)
            if json {
                ScoreStream.write(prediction, id: .string("\(i + 1)"), classes: classifier.classes, into: &out)
            } else {
                out.append(Self.describe(prediction, classes: classifier.classes) + "\n")
                if explain {
                    for reasons in scorer.explain(text, limit: max(reasons, 1)) where !reasons.isEmpty {
                        out.append("  toward \(reasons[0].label): " + reasons.map(Self.describe).joined(separator: ", ") + "\n")
                    }
                }
            }
        }
        out.flush()
    }

    static func describe(_ r: Reason) -> String {
        "\(r.kind == .char ? "chars" : r.kind.rawValue) \"\(r.feature)\" +\(format(r.contribution, 3))"
    }

    static func describe(_ p: Prediction, classes: [String]) -> String {
        let others = zip(classes, p.probabilities).filter { $0.0 != p.label }.map { "\($0.0) \(format($0.1, 3))" }.joined(separator: ", ")
        var lines = ["\(p.label) \(format(p.probabilities[p.labelIndex], 3))  (\(others))"]
        lines.append("  evidence \(format(p.evidence.score, 2)): \(p.evidence.knownFeatures) of \(p.evidence.features) features known\(p.evidence.thin ? " — thin evidence, probabilities shrunk toward the prior" : "")")
        if !p.reasons.isEmpty {
            lines.append("  reasons: " + p.reasons.map(describe).joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}

/// Buffered writes to a file descriptor (printing line by line is slow).
struct OutputBuffer {
    let fd: Int32
    var bytes: [UInt8] = []

    init(fd: Int32) {
        self.fd = fd
        bytes.reserveCapacity(1 << 16)
    }

    mutating func append(_ s: String) {
        bytes.append(contentsOf: s.utf8)
        if bytes.count >= 1 << 16 { flush() }
    }

    mutating func append(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    mutating func flush() {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            offset += n
        }
        bytes.removeAll(keepingCapacity: true)
    }

    /// A JSON string literal.
    mutating func appendJSONString(_ s: String) {
        bytes.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
            case 0x0D: bytes.append(0x5C); bytes.append(0x72)
            case 0x09: bytes.append(0x5C); bytes.append(0x74)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }

    /// A probability or contribution with 6 significant decimals.
    mutating func appendNumber(_ v: Double) {
        guard v.isFinite else { append("null"); return }
        let scaled = (v * 1_000_000).rounded()
        let negative = scaled < 0
        var n = Int64(abs(scaled))
        if negative { bytes.append(0x2D) }
        let whole = n / 1_000_000
        n %= 1_000_000
        append(String(whole))
        if n > 0 {
            var digits = [UInt8](repeating: 0x30, count: 6)
            var q = n
            for i in stride(from: 5, through: 0, by: -1) { digits[i] = 0x30 + UInt8(q % 10); q /= 10 }
            while digits.last == 0x30 { digits.removeLast() }
            bytes.append(0x2E)
            bytes.append(contentsOf: digits)
        }
    }
}

/// JSON Lines in, JSON Lines out, at full speed: a reader over `read(2)` and `memchr`, a small parser for
/// flat objects, and a hand-written encoder. Anything the small parser does not handle falls back to
/// `JSONSerialization`.
enum ScoreStream {
    enum ID { case string(String), raw(String), none }

    /// Scores every line of `input`; returns how many lines failed.
    static func run(scorer: inout Scorer, input: Int32, output: Int32, reasons: Int) throws -> Int {
        var out = OutputBuffer(fd: output)
        var failures = 0
        var lineNumber = 0
        let classes = scorer.model.classes
        LineReader.forEachLine(fd: input) { line in
            lineNumber += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
            switch parse(line) {
            case .success(let (id, text)):
                let prediction = scorer.score(text, reasons: reasons)
                write(prediction, id: id, classes: classes, into: &out)
            case .failure(let message):
                failures += 1
                out.append("{\"error\":")
                out.appendJSONString(message)
                out.append(",\"line\":")
                out.append(String(lineNumber))
                out.append("}\n")
            }
        }
        out.flush()
        return failures
    }

    static func write(_ p: Prediction, id: ID, classes: [String], into out: inout OutputBuffer) {
        out.append("{")
        switch id {
        case .string(let s): out.append("\"id\":"); out.appendJSONString(s); out.append(",")
        case .raw(let r): out.append("\"id\":"); out.append(r); out.append(",")
        case .none: break
        }
        out.append("\"evidence\":")
        out.appendNumber(p.evidence.score)
        out.append(",\"label\":")
        out.appendJSONString(p.label)
        out.append(",\"probabilities\":{")
        for (i, c) in classes.enumerated() {
            if i > 0 { out.append(",") }
            out.appendJSONString(c)
            out.append(":")
            out.appendNumber(p.probabilities[i])
        }
        out.append("},\"reasons\":[")
        for (i, r) in p.reasons.enumerated() {
            if i > 0 { out.append(",") }
            out.append("{\"contribution\":")
            out.appendNumber(r.contribution)
            out.append(",\"feature\":")
            out.appendJSONString(r.feature)
            out.append(",\"kind\":")
            out.appendJSONString(r.kind.rawValue)
            out.append("}")
        }
        out.append("],\"thinEvidence\":")
        out.append(p.evidence.thin ? "true" : "false")
        out.append("}\n")
    }

    enum Parsed { case success((ID, String)), failure(String) }

    static func parse(_ line: UnsafeBufferPointer<UInt8>) -> Parsed {
        var parser = FlatJSONParser(bytes: line)
        if let fields = parser.parseObject() {
            guard let text = fields.text else { return .failure("missing field 'text'") }
            return .success((fields.id, text))
        }
        // Fallback for anything unusual, with a precise message.
        let data = Data(buffer: line)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return .failure("not a JSON object; give one object per line like {\"id\": \"1\", \"text\": \"…\"}")
        }
        guard let text = object["text"] as? String else {
            return .failure(object["text"] == nil ? "missing field 'text'" : "field 'text' must be a string")
        }
        switch object["id"] {
        case let s as String: return .success((.string(s), text))
        case let n as NSNumber: return .success((.raw(n.stringValue), text))
        default: return .success((.none, text))
        }
    }
}

/// Calls `body` with each line of a file descriptor (without its newline), reading in large blocks.
enum LineReader {
    static func forEachLine(fd: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var filled = 0
        while true {
            if filled == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            let eof = n <= 0
            if !eof { filled += n }
            var consumed = 0
            buffer.withUnsafeBufferPointer { p in
                let base = p.baseAddress!
                while consumed < filled {
                    guard let nl = memchr(base + consumed, 0x0A, filled - consumed) else { break }
                    let end = base.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                    body(UnsafeBufferPointer(start: base + consumed, count: end - consumed))
                    consumed = end + 1
                }
                if eof && consumed < filled {
                    body(UnsafeBufferPointer(start: base + consumed, count: filled - consumed))
                    consumed = filled
                }
            }
            if consumed > 0 {
                buffer.withUnsafeMutableBytes { p in
                    if filled > consumed { memmove(p.baseAddress!, p.baseAddress! + consumed, filled - consumed) }
                }
                filled -= consumed
            }
            if eof { return }
        }
    }
}

/// Parses one flat JSON object, keeping `id` (string or number) and `text`; other values are skipped.
/// Returns nil on anything it does not understand (the caller falls back to `JSONSerialization`).
struct FlatJSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    struct Fields { var id: ScoreStream.ID = .none; var text: String? }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0D || bytes[i] == 0x0A { i += 1 }
    }

    mutating func parseObject() -> Fields? {
        var fields = Fields()
        skipSpace()
        guard i < bytes.count, bytes[i] == 0x7B else { return nil }
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == 0x7D { i += 1; return trailingOK() ? fields : nil }
        while true {
            skipSpace()
            guard let key = parseString() else { return nil }
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x3A else { return nil }
            i += 1
            skipSpace()
            guard i < bytes.count else { return nil }
            if bytes[i] == 0x22 {
                guard let value = parseString() else { return nil }
                if key == "text" { fields.text = value } else if key == "id" { fields.id = .string(value) }
            } else {
                let start = i
                guard skipValue() else { return nil }
                if key == "text" { return nil }  // not a string: let the fallback explain
                if key == "id" {
                    let raw = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                    if let first = raw.first, first == "-" || first.isNumber { fields.id = .raw(raw) }
                }
            }
            skipSpace()
            guard i < bytes.count else { return nil }
            if bytes[i] == 0x2C { i += 1; continue }
            if bytes[i] == 0x7D { i += 1; break }
            return nil
        }
        return trailingOK() ? fields : nil
    }

    mutating func trailingOK() -> Bool {
        skipSpace()
        return i == bytes.count
    }

    /// A JSON string at `i` (which must be `"`), unescaped; nil when malformed or not valid UTF-8 (`JSONString`,
    /// the API's own string reader).
    mutating func parseString() -> String? {
        guard i < bytes.count, bytes[i] == 0x22 else { return nil }
        guard let (value, end) = JSONString.read(UnsafeRawBufferPointer(bytes), from: i + 1) else { return nil }
        i = end
        return value
    }

    /// Skips a non-string value (number, literal, or a nested object/array); false when malformed.
    mutating func skipValue() -> Bool {
        guard i < bytes.count else { return false }
        let b = bytes[i]
        if b == 0x7B || b == 0x5B {
            var depth = 0
            while i < bytes.count {
                let c = bytes[i]
                if c == 0x22 { guard parseString() != nil else { return false }; continue }
                if c == 0x7B || c == 0x5B { depth += 1 }
                if c == 0x7D || c == 0x5D { depth -= 1; if depth == 0 { i += 1; return true } }
                i += 1
            }
            return false
        }
        let start = i
        while i < bytes.count, bytes[i] != 0x2C, bytes[i] != 0x7D, bytes[i] != 0x20, bytes[i] != 0x09 { i += 1 }
        let token = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if token == "true" || token == "false" || token == "null" { return true }
        return Double(token) != nil
    }
}
