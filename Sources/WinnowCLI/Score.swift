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
        do { scorer = try Scorer(model: classifier) } catch { throw CommandError.data("\(model): \(error)") }
        if texts.isEmpty {
            if isatty(0) == 1 {
                FileHandle.standardError.write("Reading JSON Lines ({\"id\": …, \"text\": …}) from standard input; end with Ctrl-D. To score a text, give it as an argument.\n".data(using: .utf8)!)
            }
            let failures = try ScoreStream.run(scorer: &scorer, input: 0, output: 1, reasons: reasons)
            if failures > 0 {
                FileHandle.standardError.write("\(failures) input line(s) could not be scored; see the error objects in the output.\n".data(using: .utf8)!)
                throw ExitCode(Winnow.dataError)
            }
            return
        }
        var out = OutputBuffer(fd: 1)
        for (i, text) in texts.enumerated() {
            let prediction = scorer.score(text, reasons: reasons)
            if json {
                var w = JSONWriter(capacity: 512)
                ScoreStream.write(prediction, id: .string("\(i + 1)"), line: i + 1, classes: classifier.classes, into: &w)
                w.withBytes { out.append($0) }
                out.append("\n")
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

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        self.bytes.append(contentsOf: bytes)
        if self.bytes.count >= 1 << 16 { flush() }
    }
}

/// JSON Lines in, JSON Lines out, at full speed: a reader over `read(2)` and `memchr`, the API's strict parser for
/// each line (`JSONParser`: a bad line's message gives the byte), and the API's writer (`JSONWriter`).
enum ScoreStream {
    enum ID: Equatable { case string(String), number(String), none }

    /// Scores every line of `input`; returns how many lines failed.
    static func run(scorer: inout Scorer, input: Int32, output: Int32, reasons: Int) throws -> Int {
        var out = OutputBuffer(fd: output)
        var failures = 0
        var lineNumber = 0
        let classes = scorer.model.classes
        LineReader.forEachLine(fd: input) { read in
            lineNumber += 1
            // A byte-order mark before the first line (files saved on Windows) is not part of it, as train and
            // evaluate read such files (outside testing: the line failed as JSON that starts with one).
            let line = lineNumber == 1 && read.starts(with: [0xEF, 0xBB, 0xBF]) ? UnsafeBufferPointer(rebasing: read.dropFirst(3)) : read
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
            var w = JSONWriter(capacity: 512)
            switch parse(line) {
            case .success(let (id, text)):
                let prediction = scorer.score(text, reasons: reasons)
                write(prediction, id: id, line: lineNumber, classes: classes, into: &w)
            case .failure(let message):
                failures += 1
                w.object { w in
                    w.field("error", message)
                    w.field("line", lineNumber)
                }
            }
            w.withBytes { out.append($0) }
            out.append("\n")
        }
        out.flush()
        return failures
    }


    /// One answer: the line's `id` as it was given (a string or a number), else its line number, so every answer can
    /// be matched to its line.
    static func write(_ p: Prediction, id: ID, line: Int, classes: [String], into w: inout JSONWriter) {
        w.object { w in
            switch id {
            case .string(let s): w.field("id", s)
            case .number(let text): w.key("id"); w.number(text: text)
            case .none: w.field("line", line)
            }
            w.key("evidence"); w.number(p.evidence.score, places: 6)
            w.field("label", p.label)
            w.object("probabilities") { w in
                for (i, c) in classes.enumerated() { w.key(c); w.number(p.probabilities[i], places: 6) }
            }
            w.array("reasons") { w in
                for r in p.reasons {
                    w.object { w in
                        w.key("contribution"); w.number(r.contribution, places: 6)
                        w.field("feature", r.feature)
                        w.field("kind", r.kind.rawValue)
                    }
                }
            }
            w.field("thinEvidence", p.evidence.thin)
        }
    }

    enum Parsed { case success((ID, String)), failure(String) }

    static func parse(_ line: UnsafeBufferPointer<UInt8>) -> Parsed {
        // The common line, {"id": …, "text": …} and nothing else, through the API's fast reader; anything else (another
        // field, a repeated or escaped key, an error) through the strict parser, which also words the errors.
        var scanner = JSONScanner(UnsafeRawBufferPointer(line))
        var id = ID.none, text: String?
        let read = scanner.object { s, key in
            if key.is("text") {
                guard text == nil else { return false }
                text = s.string()
                return text != nil
            }
            if key.is("id") {
                guard id == .none else { return false }
                if s.peek() == UInt8(ascii: "\"") {
                    guard let value = s.string() else { return false }
                    id = .string(value)
                } else {
                    guard let value = s.numberLiteral() else { return false }
                    id = .number(value)
                }
                return true
            }
            return false
        }
        if read, scanner.atEnd, let text { return .success((id, text)) }
        let value: JSONValue
        do {
            value = try JSONParser.parse(UnsafeRawBufferPointer(line))
        } catch {
            return .failure("not JSON (\(error.message)); give one object per line like {\"id\": \"1\", \"text\": \"…\"}")
        }
        guard case .object(let members) = value else {
            return .failure("not a JSON object but \(value.kind); give one object per line like {\"id\": \"1\", \"text\": \"…\"}")
        }
        var parsedID = ID.none, parsedText: String?
        for member in members {
            switch (member.key, member.value) {
            case ("text", .string(let s)): parsedText = s
            case ("text", let other): return .failure("field 'text' must be a string, not \(other.kind)")
            case ("id", .string(let s)): parsedID = .string(s)
            case ("id", .number(let n)): parsedID = .number(n)
            default: break
            }
        }
        guard let parsedText else { return .failure("missing field 'text'") }
        return .success((parsedID, parsedText))
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
