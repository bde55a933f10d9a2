import CSV
import Foundation
import Learning
import WinnowJSON

/// One labelled row of a data file, with where it came from.
public struct DataRow: Sendable, Equatable {
    public var id: String
    public var text: String
    public var label: String
    /// 1-based line of the row's start in its file.
    public var line: Int
    /// The row's feed, when the file has a `feed` column (as `winnow labels export` writes).
    public var feed: String?
    /// The label as the file gave it, when `labelMap` renamed it.
    public var mappedFrom: String?
    /// Whether the row says its label was withdrawn (a `withdrawn_at` column, or `withdrawnAt` in JSON Lines, not empty:
    /// `winnow labels export --all` writes them).
    public var withdrawn: Bool

    public init(id: String, text: String, label: String, line: Int, feed: String? = nil, withdrawn: Bool = false) {
        self.id = id
        self.text = text
        self.label = label
        self.line = line
        self.feed = feed
        self.withdrawn = withdrawn
    }
}

/// A problem with a data file, naming the file and line and saying how to fix it.
public struct DataFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// Reads labelled data: CSV with a header naming `text` and `label` (and usually `id`), or JSON Lines with
/// objects holding `text` and `label` (and optionally `id`). The format follows the extension (`.csv`,
/// `.jsonl`, `.ndjson`, `.json`); other files are sniffed (a first `{` means JSON Lines).
public struct DataFileReader: Sendable {
    /// `from → to` label renames, applied before any check on labels.
    public var labelMap: [String: String] = [:]
    /// When set, every label (after mapping) must be one of these.
    public var allowedLabels: [String]?
    /// Rows without a label are accepted (for scoring files); their label is "".
    public var labelOptional = false

    public init(labelMap: [String: String] = [:], allowedLabels: [String]? = nil, labelOptional: Bool = false) {
        self.labelMap = labelMap
        self.allowedLabels = allowedLabels
        self.labelOptional = labelOptional
    }

    public func read(_ path: String) throws -> [DataRow] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DataFileError(file: path, line: nil, message: "cannot be read (\(Self.reason(error, path: path))). Check the path and permissions.")
        }
        let text = try Self.decodeUTF8(data, file: path)
        let lower = path.lowercased()
        let rows: [DataRow]
        if lower.hasSuffix(".csv") {
            rows = try readCSV(text, file: path)
        } else if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") || lower.hasSuffix(".json") {
            rows = try readJSONLines(text, file: path)
        } else if text.drop(while: { $0.isWhitespace }).first == "{" {
            rows = try readJSONLines(text, file: path)
        } else {
            rows = try readCSV(text, file: path)
        }
        guard !rows.isEmpty else {
            throw DataFileError(file: path, line: nil, message: "has no data rows. Give a file with a header and at least one labelled row.")
        }
        return rows
    }

    /// Why a file could not be read or written, in a few words: Foundation's own text for a directory is
    /// "The operation could not be completed. (NSCocoaErrorDomain error 256.)".
    public static func reason(_ error: Error, path: String? = nil) -> String {
        if let path, isDirectory(path) { return "it is a directory, not a file" }
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain {
            switch ns.code {
            case NSFileReadNoSuchFileError, NSFileNoSuchFileError: return "no such file"
            case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return "permission denied"
            case NSFileWriteOutOfSpaceError: return "the disk is full"
            case NSFileWriteVolumeReadOnlyError: return "the volume is read-only"
            default: break
            }
        }
        return ns.localizedDescription
    }

    public static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    /// Decodes UTF-8 strictly, naming the line of the first invalid byte. A leading BOM is dropped.
    static func decodeUTF8(_ data: Data, file: String) throws -> String {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        var line = 1
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s): if s == "\n" { line += 1 }
            case .emptyInput: break loop
            case .error: break loop
            }
        }
        throw DataFileError(file: file, line: line, message: "is not valid UTF-8. Re-encode the file as UTF-8 (for example with iconv -t UTF-8).")
    }

    func finish(id: String, text: String, label rawLabel: String, line: Int, file: String) throws -> DataRow {
        guard !text.allSatisfy({ $0.isWhitespace }) else {
            throw DataFileError(file: file, line: line, message: "the text of row '\(id)' is empty. Give it text or remove the row.")
        }
        var label = rawLabel.trimmingCharacters(in: .whitespaces)
        if label.isEmpty {
            if labelOptional { return DataRow(id: id, text: text, label: "", line: line) }
            throw DataFileError(file: file, line: line, message: "row '\(id)' has no label. Give every row a label.")
        }
        var mappedFrom: String?
        if let mapped = labelMap[label] {
            mappedFrom = label
            label = mapped
        }
        if let allowed = allowedLabels, !allowed.contains(label) {
            throw DataFileError(
                file: file, line: line,
                message: "unknown label '\(label)' (row '\(id)'); the model's classes are \(allowed.joined(separator: ", ")). Map it with --label-map \(label)=CLASS.")
        }
        var row = DataRow(id: id, text: text, label: label, line: line)
        row.mappedFrom = mappedFrom
        return row
    }

    /// Refuses renames of `labelMap` that no row of `rows` used: a misspelt FROM (`hm=clear`) left the label it meant
    /// a class of its own without a word (outside testing).
    /// - Throws: `DataFileError` naming the rename and the labels the rows have.
    public static func refuseUnusedRenames(_ labelMap: [String: String], rows: [DataRow], files: [String]) throws {
        let used = Set(rows.compactMap(\.mappedFrom))
        guard let unused = labelMap.keys.sorted().first(where: { !used.contains($0) }) else { return }
        let labels = Set(rows.map { $0.mappedFrom ?? $0.label }).sorted()
        throw DataFileError(file: files.joined(separator: ", "), line: nil,
                            message: "has no row labelled '\(unused)', so --label-map \(unused)=\(labelMap[unused] ?? "") renames nothing; its labels are \(labels.prefix(20).joined(separator: ", ")). Fix the label's spelling, or leave the rename out.")
    }

    func readCSV(_ text: String, file: String) throws -> [DataRow] {
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw DataFileError(file: file, line: nil, message: "is empty. A CSV file needs the header row id,text,label and then one row per text.")
        }
        try Self.checkQuoting(text, file: file)
        let reader: CSVReader
        do {
            reader = try CSVReader(string: text, hasHeaderRow: true)
        } catch {
            throw DataFileError(file: file, line: 1, message: "is not valid CSV (\(error)). Use RFC 4180 CSV with a header row.")
        }
        let header = (reader.headerRow ?? []).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let textColumn = header.firstIndex(of: "text") else {
            throw DataFileError(file: file, line: 1, message: "missing column 'text' (the header has: \(header.joined(separator: ", "))). The header must be id,text,label.")
        }
        let labelColumn = header.firstIndex(of: "label")
        if labelColumn == nil && !labelOptional {
            throw DataFileError(file: file, line: 1, message: "missing column 'label' (the header has: \(header.joined(separator: ", "))). The header must be id,text,label.")
        }
        let idColumn = header.firstIndex(of: "id")
        let feedColumn = header.firstIndex(of: "feed"), withdrawnColumn = header.firstIndex(of: "withdrawn_at")
        var rows: [DataRow] = []
        var line = 2
        while let fields = reader.next() {
            let start = line
            line += 1 + fields.reduce(0) { $0 + $1.utf8.reduce(0) { $1 == 0x0A ? $0 + 1 : $0 } }
            if fields.count == 1 && fields[0].isEmpty { continue }  // blank line
            guard fields.count == header.count else {
                throw DataFileError(file: file, line: start, message: "expected \(header.count) fields as in the header, found \(fields.count). Quote fields that contain commas, quotes or newlines.")
            }
            let id = idColumn.map { fields[$0] } ?? "line-\(start)"
            var row = try finish(id: id, text: fields[textColumn], label: labelColumn.map { fields[$0] } ?? "", line: start, file: file)
            row.feed = feedColumn.map { fields[$0] }.flatMap { $0.isEmpty ? nil : $0 }
            row.withdrawn = withdrawnColumn.map { !fields[$0].trimmingCharacters(in: .whitespaces).isEmpty } ?? false
            rows.append(row)
        }
        if let error = reader.error {
            throw DataFileError(file: file, line: line, message: "is not valid CSV (\(error)). Use RFC 4180 quoting.")
        }
        return rows
    }

    /// Refuses quoting RFC 4180 does not allow, which a lenient reader would read into other text without a word: a
    /// quote inside a quoted field that is not doubled (`"he said "hi" there"` lost the character after each stray
    /// quote) and a quoted field never closed (it swallowed every row after it, their labels with them). A quote
    /// inside an unquoted field (`he said "hi"`) is read as it is, as spreadsheets write it.
    /// - Throws: `DataFileError` naming the line.
    static func checkQuoting(_ text: String, file: String) throws {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var line = 1, fieldStart = true, quoted = false, openedAt = 0
        var bytes = text.utf8.makeIterator()
        var pending: UInt8?
        func next() -> UInt8? {
            if let byte = pending {
                pending = nil
                return byte
            }
            return bytes.next()
        }
        while let byte = next() {
            if quoted {
                if byte == newline { line += 1 }
                guard byte == quote else { continue }
                let after = next()
                if after == quote { continue }  // a doubled quote
                guard after == nil || after == comma || after == newline || after == cr else {
                    guard openedAt == line else {
                        // Most likely a field whose closing quote is missing, read on into the next rows.
                        throw DataFileError(file: file, line: openedAt, message: "has a quoted field that runs on to line \(line), where a quote "
                                            + "inside it is not doubled: is its closing quote missing? Close it, and write each quote inside it as \"\".")
                    }
                    throw DataFileError(file: file, line: line, message: "has a quote inside a quoted field that is not doubled. Inside quotes "
                                        + "write a quote as \"\", or leave the field unquoted.")
                }
                quoted = false
                pending = after
                continue
            }
            switch byte {
            case quote where fieldStart:
                quoted = true
                openedAt = line
                fieldStart = false
            case comma:
                fieldStart = true
            case newline:
                line += 1
                fieldStart = true
            case cr:
                break
            default:
                fieldStart = false
            }
        }
        if quoted {
            throw DataFileError(file: file, line: openedAt, message: "has a quoted field that is never closed, so every row after it would be "
                                + "read into it. Close its quote, and write each quote inside it as \"\".")
        }
    }

    func readJSONLines(_ text: String, file: String) throws -> [DataRow] {
        var rows: [DataRow] = []
        var lineNumber = 0
        // "\r\n" is one Character in Swift, so splitting on "\n" alone would leave a Windows file one line.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            // The strict reader: a key given twice is refused (JSONSerialization kept the last silently).
            let notAnObject = DataFileError(file: file, line: lineNumber, message: "is not a JSON object. Each line must be one object like {\"id\": \"1\", \"text\": \"…\", \"label\": \"spam\"}.")
            let parsed: JSONValue
            do {
                parsed = try JSONParser.parse(Array(line.utf8), document: "The line")
            } catch where error.kind == .duplicateField {
                throw DataFileError(file: file, line: lineNumber, message: "gives '\(error.field ?? "")' twice; give each field once.")
            } catch {
                throw notAnObject
            }
            guard case let .object(members) = parsed else { throw notAnObject }
            let object = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
            guard case let .string(text)? = object["text"] else {
                throw DataFileError(file: file, line: lineNumber, message: object["text"] == nil ? "missing field 'text'." : "field 'text' must be a string.")
            }
            let label: String
            switch object["label"] {
            case let .string(s)?: label = s
            case let .number(n)?: label = n
            case nil where labelOptional: label = ""
            case nil: throw DataFileError(file: file, line: lineNumber, message: "missing field 'label'.")
            default: throw DataFileError(file: file, line: lineNumber, message: "field 'label' must be a string.")
            }
            let id: String
            switch object["id"] {
            case let .string(s)?: id = s
            case let .number(n)?: id = n
            default: id = "line-\(lineNumber)"
            }
            var row = try finish(id: id, text: text, label: label, line: lineNumber, file: file)
            if case let .string(feed)? = object["feed"], !feed.isEmpty { row.feed = feed }
            switch object["withdrawnAt"] ?? object["withdrawn_at"] {
            case nil, .null?: break
            default: row.withdrawn = true
            }
            rows.append(row)
        }
        return rows
    }
}

