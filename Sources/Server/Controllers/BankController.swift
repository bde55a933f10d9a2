import Engine
import Foundation
import Hummingbird
import Learning
import Services

/// `/v1/banks` (role admin): banks of signatures of decided content, their entries, and the ThreatExchange-style PDQ
/// hash-list CSV in and out.
struct BankController {
    let banks: BankService
    let scoring: ScoringService
    let limits: ServerConfiguration

    func addRoutes(to router: Router<WinnowRequestContext>) {
        router.group("v1/banks").add(middleware: RequireRole(.admin))
            .get(use: list)
            .post(use: create)
            .get("{bank}", use: show)
            .put("{bank}", use: save)
            .delete("{bank}", use: remove)
            .get("{bank}/entries", use: entries)
            .post("{bank}/entries", use: addEntries)
            .delete("{bank}/entries/{entry}", use: removeEntry)
            .get("{bank}/export", use: export)
            .post("{bank}/import", use: importCSV)
    }

    // MARK: Banks

    struct BankBody: Decodable {
        var name: String?
        var label: String
        var action: Action
        var feeds: [String]?
        var description: String?
    }

    struct BankList: Encodable {
        var banks: [Bank]
    }

    @Sendable func list(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        JSON.response(BankList(banks: try await banks.banks()))
    }

    @Sendable func create(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let body = try await JSON.decode(BankBody.self, from: request, limit: limits.maxBodyBytes)
        guard let name = body.name else { throw APIError(.unprocessableContent, code: "missing_field", "Name the bank: {\"name\": \"spam-wave\", …}.", field: "name") }
        if try await banks.bank(named: name) != nil {
            throw APIError(.conflict, code: "conflict", "Bank '\(name)' exists; change it with PUT /v1/banks/\(name).", field: "name")
        }
        let (bank, _) = try await saveBank(name: name, body: body, by: context.caller.name)
        return JSON.response(bank, status: .created)
    }

    @Sendable func save(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let name = try context.parameters.require("bank")
        let body = try await JSON.decode(BankBody.self, from: request, limit: limits.maxBodyBytes)
        if let named = body.name, named != name {
            throw APIError(.unprocessableContent, code: "invalid_value", "The body names bank '\(named)' but the path '\(name)'.", field: "name")
        }
        let (bank, created) = try await saveBank(name: name, body: body, by: context.caller.name)
        return JSON.response(bank, status: created ? .created : .ok)
    }

    private func saveBank(name: String, body: BankBody, by: String) async throws -> (Bank, Bool) {
        do {
            return try await banks.save(Bank(name: name, label: body.label, action: body.action, feeds: body.feeds, description: body.description,
                                             createdBy: by, createdAt: Date()),
                                        classes: scoring.model.classes, clearLabel: scoring.engine.configuration.clearLabel)
        } catch let error as ValidationError {
            throw APIError.validation(error)
        }
    }

    @Sendable func show(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let name = try context.parameters.require("bank")
        guard let bank = try await banks.bank(named: name) else { throw Self.noBank(name) }
        return JSON.response(bank)
    }

    struct Removed: Encodable {
        var bank: String
        var removed: Bool
    }

    @Sendable func remove(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let name = try context.parameters.require("bank")
        guard try await banks.remove(bank: name) else { throw Self.noBank(name) }
        return JSON.response(Removed(bank: name, removed: true))
    }

    // MARK: Entries

    /// An entry as the API shows it: the signature in its stored form (`value`: a PDQ hash's hex, a text signature's
    /// hex, a video's `seconds:quality:hex` frames), and where it came from.
    struct EntryView: Encodable {
        var id: Int64
        var bank: String
        var kind: BankSignature.Kind
        var value: String
        var quality: Int?
        var note: String?
        var source: BankEntrySource
        var addedBy: String
        var addedAt: Date

        init(_ entry: BankEntry) {
            id = entry.id
            bank = entry.bank
            kind = entry.signature.kind
            value = entry.signature.value
            quality = entry.signature.quality
            note = entry.note
            source = entry.source
            addedBy = entry.addedBy
            addedAt = entry.addedAt
        }
    }

    struct EntryPage: Encodable {
        var entries: [EntryView]
        /// Pass as `after` for the next page; nil at the end.
        var next: Int64?
    }

    @Sendable func entries(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let name = try context.parameters.require("bank")
        guard try await banks.bank(named: name) != nil else { throw Self.noBank(name) }
        let after = try Query.integer(request, "after", in: 0...Int64.max, default: 0)!
        let limit = try Query.integer(request, "limit", in: 1...1_000, default: 100)!
        // One more than the page: `next` only when there is more (outside testing: a full last page gave one).
        let page = try await banks.entries(of: name, after: after, limit: limit + 1)
        let shown = page.prefix(limit)
        return JSON.response(EntryPage(entries: shown.map(EntryView.init), next: page.count > limit ? shown.last?.id : nil))
    }

    /// One entry to add: a text to sign, or a signature already made, or an image or video to hash.
    struct EntryBody: Decodable {
        var type: String
        var text: String?
        var signature: String?
        var pdq: String?
        var quality: Int?
        var frames: String?
        var data: String?
        var note: String?
    }

    struct EntriesBody: Decodable {
        var entries: [EntryBody]
    }

    struct Added: Encodable {
        var bank: Bank
        var entries: [EntryView]
    }

    @Sendable func addEntries(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let name = try context.parameters.require("bank")
        let body = try await JSON.decode(EntriesBody.self, from: request, limit: limits.media.maxItemBodyBytes)
        guard !body.entries.isEmpty else { throw APIError(.unprocessableContent, code: "invalid_value", "Send 1 to 10,000 entries.", field: "entries") }
        guard body.entries.count <= 10_000 else {
            throw APIError(.unprocessableContent, code: "too_many_items", "Send at most 10,000 entries at a time; for more, import a CSV in parts.", field: "entries")
        }
        var new: [NewBankEntry] = []
        var tokenizer = Tokenizer()
        for (i, entry) in body.entries.enumerated() {
            do {
                new.append(NewBankEntry(signature: try await signature(of: entry, field: "entries[\(i)]", tokenizer: &tokenizer), note: entry.note))
            } catch let error as ValidationError {
                throw APIError.validation(error)
            }
        }
        guard let (bank, entries, added) = try await banks.add(new, to: name, by: context.caller.name) else { throw Self.noBank(name) }
        // Every entry live already (a retried request): 200, nothing created, as a label import answers.
        return JSON.response(Added(bank: bank, entries: entries.map(EntryView.init)), status: added > 0 ? .created : .ok)
    }

    private func signature(of entry: EntryBody, field: String, tokenizer: inout Tokenizer) async throws -> BankSignature {
        if let note = entry.note {
            guard note.utf8.count <= 1_000 else { throw ValidationError(field: "\(field).note", "at most 1,000 bytes") }
            try ValidationError.checkNoNUL(note, field: "\(field).note")
        }
        // A field another type takes was ignored without a word (a text entry's pdq, outside testing): refused.
        let given: [(String, Bool)] = [("text", entry.text != nil), ("signature", entry.signature != nil), ("pdq", entry.pdq != nil),
                                       ("quality", entry.quality != nil), ("frames", entry.frames != nil), ("data", entry.data != nil)]
        let takes: [String: Set<String>] = ["text": ["text", "signature"], "image": ["pdq", "quality", "data"], "video": ["frames", "data"]]
        if let allowed = takes[entry.type], let stray = given.first(where: { $0.1 && !allowed.contains($0.0) })?.0 {
            throw ValidationError(field: "\(field).\(stray)", "a\(entry.type == "image" ? "n" : "") \(entry.type) entry takes \(allowed.sorted().joined(separator: ", ")) (and note), not \(stray)")
        }
        switch entry.type {
        case "text":
            if let text = entry.text {
                guard entry.signature == nil else { throw ValidationError(field: "\(field).signature", "send text or signature, not both") }
                guard let signature = TextSignature(text: text, tokenizer: &tokenizer) else {
                    throw ValidationError(field: "\(field).text", "the text has fewer than \(TextSignature.minimumTokens) words: too short to match on")
                }
                return .text(signature)
            }
            guard let value = entry.signature else { throw ValidationError(field: "\(field).text", "send the text to sign (or its signature)") }
            return try prefixed(field, try BankSignature(kind: .text, value: value, quality: nil))
        case "image":
            if let pdq = entry.pdq {
                guard entry.data == nil else { throw ValidationError(field: "\(field).pdq", "send data or pdq, not both") }
                return try prefixed(field, try BankSignature(kind: .image, value: pdq, quality: entry.quality))
            }
            guard let data = entry.data else { throw ValidationError(field: "\(field).pdq", "send the image's PDQ hash (pdq) or its bytes (data, base64)") }
            let input = try API.MediaBody(type: "image", data: data).input(field: field)
            guard case let .image(image) = try await prefixedMedia(field, try await limits.media.intake.hash([input])).first else { throw ValidationError(field: field, "no image") }
            // An entry keeps the plain hash: a posted image's eight orientations are looked up against it.
            return .image(image.plain)
        case "video":
            if let frames = entry.frames {
                let signature = try prefixed(field, try BankSignature(kind: .video, value: frames, quality: nil))
                // A frame's time is where it sits in a video: never negative, nor past the longest video taken.
                if case let .video(list) = signature, let odd = list.first(where: { !(0...limits.media.maxVideoSeconds).contains($0.seconds) }) {
                    throw ValidationError(field: "\(field).frames", "frame \(odd.frame) is at \(odd.seconds) s; a frame's time is 0 to \(FixedText.format(limits.media.maxVideoSeconds, places: 0)) s (media.maxVideoSeconds)")
                }
                return signature
            }
            guard let data = entry.data else { throw ValidationError(field: "\(field).frames", "send the video's frame hashes (frames) or its bytes (data, base64)") }
            let input = try API.MediaBody(type: "video", data: data).input(field: field)
            guard case let .video(frames) = try await prefixedMedia(field, try await limits.media.intake.hash([input])).first else { throw ValidationError(field: field, "no video") }
            return .video(frames)
        default:
            throw ValidationError(field: "\(field).type", "'\(entry.type)' is not an entry type: send text, image or video")
        }
    }

    /// Names the entry (`entries[3]`) in a media error, which names the medium as an item's (`media[0]`).
    private func prefixedMedia(_ field: String, _ make: @autoclosure () async throws -> [MediaSignature]) async throws -> [MediaSignature] {
        do {
            return try await make()
        } catch let error as ValidationError {
            throw ValidationError(field: field, error.message, tooLarge: error.tooLarge)
        }
    }

    /// Prefixes a signature's error field with the entry's place.
    private func prefixed(_ prefix: String, _ make: @autoclosure () throws -> BankSignature) throws -> BankSignature {
        do {
            return try make()
        } catch let error as ValidationError {
            throw ValidationError(field: "\(prefix).\(error.field)", error.message, tooLarge: error.tooLarge)
        }
    }

    @Sendable func removeEntry(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let name = try context.parameters.require("bank")
        guard let id = Query.canonicalInteger(try context.parameters.require("entry"), as: Int64.self), id > 0 else {
            throw APIError(.unprocessableContent, code: "invalid_value", "An entry id is a positive integer.", field: "entry")
        }
        guard let (bank, removed) = try await banks.remove(entries: [id], from: name) else { throw Self.noBank(name) }
        guard removed > 0 else { throw APIError(.notFound, code: "not_found", "Bank '\(name)' has no entry \(id).") }
        return JSON.response(bank)
    }

    // MARK: ThreatExchange hash lists

    /// The bank's image entries as a PDQ hash-list CSV, in the shape ThreatExchange's tools share hash lists:
    /// a header `hash,quality,id,note`, then one line per PDQ hash (64 hex digits).
    @Sendable func export(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let name = try context.parameters.require("bank")
        guard try await banks.bank(named: name) != nil else { throw Self.noBank(name) }
        var csv = "hash,quality,id,note\n"
        var after: Int64 = 0
        while true {
            let page = try await banks.entries(of: name, after: after, limit: 1_000)
            for entry in page {
                guard case let .image(image) = entry.signature else { continue }
                csv += "\(image.hash.hex),\(image.quality),\(entry.id),\(BankCSV.exportedNote(entry.note ?? ""))\n"
            }
            guard let last = page.last, page.count == 1_000 else { break }
            after = last.id
        }
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: csv)))
    }

    struct Imported: Encodable {
        var bank: Bank
        var added: Int
        /// Lines already in the bank.
        var existing: Int
    }

    /// Adds the PDQ hashes of a hash-list CSV (text/csv): a header naming a `hash` (or `pdq`) column and optionally
    /// `quality` (default 100) and `note`; without a header, the first column is the hash and the second the quality.
    /// Any bad line refuses the whole file, naming the line.
    @Sendable func importCSV(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let name = try context.parameters.require("bank")
        guard try await banks.bank(named: name) != nil else { throw Self.noBank(name) }
        guard let buffer = try await JSON.body(of: request, limit: limits.media.maxItemBodyBytes) else {
            throw APIError(.unprocessableContent, code: "missing_field", "Send the CSV as the body (Content-Type: text/csv).", field: "body")
        }
        let contentType = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        let charset = request.headers[.contentType]?.split(separator: ";").dropFirst()
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.first { $0.hasPrefix("charset=") }
        guard contentType == "text/csv" || contentType == "text/plain", charset == nil || charset == "charset=utf-8" || charset == "charset=\"utf-8\"" else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", "Send the hash list in UTF-8 as 'Content-Type: text/csv' (text/plain is taken too).", field: "Content-Type")
        }
        var bytes = Array(buffer.readableBytesView)
        // A spreadsheet's UTF-8 export starts with a byte-order mark; it is not part of the first column's name.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            // The line of the first byte that is not UTF-8 (a spreadsheet's Latin-1 export, say).
            let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            let line = (lines.firstIndex { String(validating: $0, as: UTF8.self) == nil } ?? 0) + 1
            throw APIError(.unprocessableContent, code: "invalid_value", "The hash list is not UTF-8 (line \(line)); save it as UTF-8 CSV.", field: "body")
        }
        let entries: [NewBankEntry]
        do {
            entries = try BankCSV.parse(text)
        } catch let error as ValidationError {
            throw APIError.validation(error)
        }
        guard !entries.isEmpty else { throw APIError(.unprocessableContent, code: "invalid_value", "The CSV holds no hash.", field: "body") }
        guard let (bank, _, added) = try await banks.add(entries, to: name, by: context.caller.name) else { throw Self.noBank(name) }
        return JSON.response(Imported(bank: bank, added: added, existing: entries.count - added), status: added > 0 ? .created : .ok)
    }

    static func noBank(_ name: String) -> APIError {
        // A name no bank can have (capitals, spaces) says so: PUT of it is a 422, and "no such bank" alone reads as if
        // it could be created under that name.
        let why = Bank.isValidName(name) ? "" : " (no bank can have that name: a bank name is 1 to 64 of a-z, 0-9, '-', '_' and '.', starting with a letter or digit\(name.lowercased() != name && Bank.isValidName(name.lowercased()) ? "; names are lower case: '\(name.lowercased())'" : ""))"
        return APIError(.notFound, code: "not_found", "There is no bank '\(name)'\(why). GET /v1/banks lists them; POST /v1/banks creates one.")
    }
}

/// The PDQ hash-list CSV: what `winnow banks import|export` and the API read and write.
public enum BankCSV {
    /// Hashes one import may hold (one write).
    public static let maxEntries = 100_000

    /// Reads a hash list strictly: a bad line refuses the whole file, naming the line. With a header (a column named
    /// hash, pdq, signal or pdq_hash; optionally quality and note, description or tags), every row has the header's
    /// number of fields, and no column is named twice; without one, a row is `hash` or `hash,quality`. A quality
    /// column's field may not be empty; a field is quoted whole (RFC 4180, on one line) or not at all.
    /// - Throws: `ValidationError` naming the line (`body` line N).
    public static func parse(_ text: String) throws -> [NewBankEntry] {
        var entries: [NewBankEntry] = []
        var hashColumn = 0, qualityColumn: Int? = 1, noteColumn: Int?
        var width: Int?
        var first = true
        for (number, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            func bad(_ problem: String) -> ValidationError { ValidationError(field: "body", "line \(number + 1): \(problem)") }
            let fields: [String]
            do { fields = try split(line) } catch let problem as CSVLineProblem { throw bad(problem.description) }
            defer { first = false }
            if first, let hash = fields.firstIndex(where: { hashNames.contains($0.lowercased()) }) {
                let names = fields.map { $0.lowercased() }
                for (i, name) in names.enumerated() where !name.isEmpty {
                    let kind = columnKind(name)
                    if let earlier = names[..<i].firstIndex(where: { kind != nil ? columnKind($0) == kind : $0 == name }) {
                        throw bad("the header names the \(kind ?? "'\(name)'") column twice (columns \(earlier + 1) and \(i + 1)); keep one")
                    }
                }
                hashColumn = hash
                qualityColumn = names.firstIndex { $0 == "quality" }
                noteColumn = names.firstIndex { noteNames.contains($0) }
                width = fields.count
                continue
            }
            if let width {
                guard fields.count == width else { throw bad("\(fields.count) field\(fields.count == 1 ? "" : "s") where the header has \(width)") }
            } else if fields.count > 2 {
                // Without a header: hash, or hash and quality.
                throw bad("\(fields.count) fields without a header; give hash or hash,quality per line, or a header row (hash,quality,note)")
            }
            guard hashColumn < fields.count, let hash = PDQHash(hex: fields[hashColumn]) else {
                throw bad("column \(hashColumn + 1) is not a PDQ hash (64 hex digits)")
            }
            var quality = 100
            if let q = qualityColumn, q < fields.count {
                guard let value = Int(fields[q]), (0...100).contains(value) else {
                    throw bad(fields[q].isEmpty ? "the quality is empty; give 0 to 100" : "quality '\(fields[q].prefix(40))' is not 0 to 100")
                }
                quality = value
            }
            var note: String?
            if let column = noteColumn, column < fields.count, !fields[column].isEmpty {
                let text = fields[column]
                guard text.utf8.count <= 1_000, !text.utf8.contains(0) else {
                    throw bad("the note is over 1,000 bytes or holds a NUL character")
                }
                note = text
            }
            entries.append(NewBankEntry(signature: .image(ImageSignature(hash: hash, quality: quality)), note: note))
            guard entries.count <= maxEntries else {
                throw ValidationError(field: "body", "more than \(maxEntries) hashes in one file: import it in parts", tooLarge: true)
            }
        }
        return entries
    }

    static let hashNames: Set<String> = ["hash", "pdq", "signal", "pdq_hash"]
    static let noteNames: Set<String> = ["note", "description", "tags"]

    /// What a header's column holds, for the names that mean the same (hash and pdq both name the hash).
    static func columnKind(_ name: String) -> String? {
        hashNames.contains(name) ? "hash" : noteNames.contains(name) ? "note" : name == "quality" ? "quality" : nil
    }

    /// A line that is not CSV as RFC 4180 writes it.
    struct CSVLineProblem: Error, CustomStringConvertible {
        var description: String
    }

    /// One CSV line's fields (double quotes around a whole field that holds commas or quotes, quotes doubled inside).
    /// - Throws: `CSVLineProblem` for a quoted field never closed on its line, or text after a closing quote.
    static func split(_ line: String) throws -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false, closed = false
        var iterator = line.makeIterator()
        while let c = iterator.next() {
            if quoted {
                if c == "\"" {
                    guard let next = iterator.next() else { quoted = false; closed = true; break }
                    if next == "\"" {
                        field.append("\"")
                    } else if next == "," {
                        quoted = false
                        fields.append(field)
                        field = ""
                    } else if next == " " || next == "\t" {
                        quoted = false
                        closed = true
                    } else {
                        throw CSVLineProblem(description: "'\(next)' after a quoted field's closing quote; write each quote inside a quoted field as \"\"")
                    }
                } else {
                    field.append(c)
                }
            } else if closed {
                // Only white space may follow a closing quote before the comma.
                if c == "," {
                    closed = false
                    fields.append(field)
                    field = ""
                } else if c != " " && c != "\t" {
                    throw CSVLineProblem(description: "'\(c)' after a quoted field's closing quote; write each quote inside a quoted field as \"\"")
                }
            } else if c == "," {
                fields.append(field.trimmingCharacters(in: .whitespaces))
                field = ""
            } else if c == "\"" && field.trimmingCharacters(in: .whitespaces).isEmpty {
                quoted = true
                field = ""
            } else {
                field.append(c)
            }
        }
        if quoted { throw CSVLineProblem(description: "a quoted field is not closed on its line; close its quote (a note cannot span lines)") }
        fields.append(closed ? field : field.trimmingCharacters(in: .whitespaces))
        return fields
    }

    /// A note as a CSV field, safe to open in a spreadsheet: one starting with =, +, -, @, a tab or a carriage return
    /// would be read as a formula (CSV injection), so it gets a leading apostrophe, as OWASP advises; so does one
    /// starting with | (dynamic data exchange in older spreadsheets) or a full-width ＝ ＋ － ＠ (read as their ASCII
    /// forms by spreadsheets in East Asian locales).
    static func exportedNote(_ text: String) -> String {
        let safe = text.first.map { "=+-@\t\r|＝＋－＠".contains($0) } == true ? "'" + text : text
        return quote(safe)
    }

    static func quote(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
        return "\"" + String(text.replacingOccurrences(of: "\"", with: "\"\"").map { $0.isNewline ? " " : $0 }) + "\""
    }
}
