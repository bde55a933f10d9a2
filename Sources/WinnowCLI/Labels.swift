import ArgumentParser
import CSV
import Engine
import Foundation
import Server
import Services
import Storage

/// `winnow labels export|import`: the store's human judgements for data scientists, and labels from elsewhere.
@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct Labels: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export the store's labels for training, or import labels from a file.",
        discussion: """
            Labels are human judgements (review, audit, appeal, import). For each item the one that counts is picked by \
            a documented rule: withdrawn labels never count, a tier-2 judgement beats tier 1, and within a tier the \
            latest wins.

              winnow labels export --database winnow.sqlite --format csv --out labels.csv
              winnow labels export --format jsonl --since 2026-11-01 --all
              winnow labels import labelled.csv --database winnow.sqlite --feed news
            """,
        subcommands: [Export.self, Import.self])

    enum Format: String, ExpressibleByArgument, CaseIterable { case csv, jsonl }

    /// A label as an import compares it. The id by its bytes, as the store compares ids: Swift's `==` takes "café"
    /// composed and decomposed for one string, where they are two items.
    struct ImportedLabel: Hashable {
        var feed: String
        var id: [UInt8]
        var label: String

        init(feed: String, id: String, label: String) {
            (self.feed, self.id, self.label) = (feed, Array(id.utf8), label)
        }
    }

    /// The labels that stand as `by` imported them at `tier`, of the items named in `ids` (by feed): each item's latest
    /// live label at that tier, when it is theirs (one a later label replaced does not stand: importing it again counts).
    static func importedLabels(in store: any Store, by: String, tier: Int, ids: [String: [String]]) async throws -> Set<ImportedLabel> {
        var earlier: [LabelRecord] = []
        for (feed, ids) in ids { earlier += try await store.labels(feed: feed, itemIDs: ids).filter { $0.tier == tier } }
        return Set(LabelResolution.standingImports(earlier, by: by).map { ImportedLabel(feed: $0.feed, id: $0.itemID, label: $0.label) })
    }

    /// The stored items of `feed` among `ids`, read a thousand ids at a time.
    static func storedItems(in store: any Store, feed: String, ids: [String]) async throws -> [ItemState] {
        var items: [ItemState] = []
        for start in stride(from: 0, to: ids.count, by: 1_000) {
            items += try await store.items(feed: feed, ids: Array(ids[start..<min(ids.count, start + 1_000)]))
        }
        return items
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write labels as CSV (id,text,label,… : ready for 'winnow train --data') or JSON Lines.",
            discussion: """
                By default one row per labelled item, the label that counts; --all writes every judgement, withdrawn \
                ones included, with their ids. Items Winnow has not stored (imported labels only) have no text: they are \
                left out of the default export, which feeds training.

                  winnow labels export --out labels.csv
                  winnow train --data labels.csv --out models/candidate.winnow
                """)

        @OptionGroup var database: Keys.DatabaseOption
        @Option(help: "csv or jsonl (default: from --out's extension, else csv).") var format: Format?
        @Option(help: "Only labels judged at or after this time (ISO 8601, e.g. 2026-11-01 or 2026-11-01T09:00:00Z).") var since: String?
        @Flag(help: "Every label row, withdrawn and replaced ones included, instead of the one that counts per item.") var all = false
        @Option(help: "The file to write (default: standard output).") var out: String?

        func run() async throws {
            let store = try await database.open()
            var sinceDate: Date?
            if let since {
                guard let date = TimeOption.parse(since) else { throw ValidationError(TimeOption.problem("--since", since)) }
                sinceDate = date
            }
            let format = self.format ?? (out?.lowercased().hasSuffix(".jsonl") == true ? .jsonl : .csv)
            let rows: [ResolvedLabel]
            if all {
                var labels: [LabelRecord] = []
                var after: Int64?
                while true {
                    let page = try await store.labels(since: sinceDate, after: after, limit: 10_000)
                    labels += page
                    guard page.count == 10_000, let last = page.last?.id else { break }
                    after = last
                }
                // Each stored item's text, as the default export gives it (items Winnow has not stored have none).
                var texts: [String: [String: String]] = [:]
                for (feed, group) in Dictionary(grouping: labels, by: \.feed) {
                    for item in try await Labels.storedItems(in: store, feed: feed, ids: Array(Set(group.map(\.itemID)))) {
                        texts[feed, default: [:]][item.submission.id] = item.submission.text
                    }
                }
                rows = labels.map { ResolvedLabel(label: $0, text: texts[$0.feed]?[$0.itemID]) }
            } else {
                rows = try await store.resolvedLabels(since: sinceDate).filter { $0.trainingText != nil }
            }
            let data = try format == .csv ? Self.csv(rows, all: all) : Self.jsonLines(rows)
            if let out {
                do { try data.write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
                    throw CommandError("Cannot write \(out) (\(DataFileReader.reason(error, path: out))); check that the folder exists and is writable.")
                }
                FileHandle.standardError.write(Data("Wrote \(rows.count) label\(rows.count == 1 ? "" : "s") to \(out).\n".utf8))
            } else {
                FileHandle.standardOutput.write(data)
            }
        }

        static let iso = Date.ISO8601FormatStyle()

        static func csv(_ rows: [ResolvedLabel], all: Bool) throws -> Data {
            let stream = OutputStream(toMemory: ())
            stream.open()
            let writer = try CSVWriter(stream: stream)
            var header = ["id", "text", "label", "feed", "source", "by", "at", "tier", "model_label", "model_probability", "model_version"]
            if all { header += ["label_id", "withdrawn_at", "replaces"] }
            try writer.write(row: header)
            for row in rows {
                let l = row.label
                var fields = [l.itemID, row.text ?? "", l.label, l.feed, l.source, l.by, l.at.formatted(iso), "\(l.tier)", l.modelLabel ?? "",
                              l.modelProbability.map { String($0) } ?? "", l.modelVersion ?? ""]
                if all { fields += [l.id.map { "\($0)" } ?? "", l.withdrawnAt.map { $0.formatted(iso) } ?? "", l.replaces.map { "\($0)" } ?? ""] }
                try writer.write(row: fields)
            }
            writer.stream.close()
            var data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data ?? Data()
            // The writer separates rows; a text file's last line ends too (as the JSON Lines export's does).
            if data.last != UInt8(ascii: "\n") { data.append(UInt8(ascii: "\n")) }
            return data
        }

        static func jsonLines(_ rows: [ResolvedLabel]) throws -> Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .custom { date, encoder in
                var container = encoder.singleValueContainer()
                try container.encode(date.formatted(iso))
            }
            /// The training file's fields (id, text, label) first, then the judgement's.
            struct Line: Encodable {
                var id: String
                var text: String?
                var label: String
                var feed: String
                var source: String
                var by: String
                var at: Date
                var tier: Int
                var modelLabel: String?
                var modelProbability: Double?
                var modelVersion: String?
                var labelId: Int64?
                var withdrawnAt: Date?
                var replaces: Int64?

                init(_ row: ResolvedLabel) {
                    let l = row.label
                    id = l.itemID; text = row.text; label = l.label; feed = l.feed; source = l.source; by = l.by; at = l.at; tier = l.tier
                    modelLabel = l.modelLabel; modelProbability = l.modelProbability; modelVersion = l.modelVersion
                    labelId = l.id; withdrawnAt = l.withdrawnAt; replaces = l.replaces
                }
            }
            var data = Data()
            for row in rows {
                data += try encoder.encode(Line(row))
                data += Data("\n".utf8)
            }
            return data
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store labels from a CSV (id,text,label) or JSON Lines file as judgements of source 'import'.",
            discussion: """
                The file is read like a training file (the same checks and errors, naming the file and line); labels must \
                be classes of the model. Labels for items Winnow has not stored yet are kept and count once the item is \
                submitted with that id. A file `labels export` wrote imports back: each row keeps its feed (the feed \
                column; --feed for files without one), and rows withdrawn in it are left out.

                  winnow labels import labelled.csv --feed news --by annotation-team
                """)

        @Argument(help: "The file: CSV with header id,text,label, or JSON Lines with those fields.") var file: String
        @OptionGroup var database: Keys.DatabaseOption
        @Option(help: "The feed the ids belong to (default: the file's feed column, else default).") var feed: String?
        @Option(help: "1, or 2 for senior judgements (they beat tier 1).") var tier = 1
        @Option(help: "Who made the labels (kept with each).") var by = "import"
        @Option(help: "The model whose classes the labels must be (default: the database registry's active version, else WINNOW_MODEL, else models/default.winnow).") var model: String?
        @Option(name: .customLong("label-map"), help: "Rename labels first, as from=to (repeatable).") var labelMap: [String] = []
        @Flag(help: "Store labels for stored items whose text differs from the file's (by default that refuses the file: its ids may name other items).")
        var ignoreText = false

        func validate() throws {
            _ = try parseLabelMap(labelMap)
            guard [1, 2].contains(tier) else { throw ValidationError("--tier is 1 or 2.") }
            if let feed, !Policy.isValidFeed(feed) { throw ValidationError(PolicyError.invalidFeed(feed).description) }
            guard !by.isEmpty else { throw ValidationError("--by needs a name.") }
        }

        func run() async throws {
            let store = try await database.open()
            // The classes the server judges with: once a version has been promoted, the registry's active one, not
            // whatever file WINNOW_MODEL names where the command runs.
            let classes: [String]
            if model == nil, let active = try await Evaluate.registryModel(in: store, database: database.path) {
                classes = active.classes
            } else {
                classes = try ModelIO.load(model ?? Evaluate.configuredModelPath).classes
            }
            let read: [DataRow]
            do {
                read = try DataFileReader(labelMap: try parseLabelMap(labelMap), allowedLabels: classes).read(file)
            } catch let error as DataFileError {
                throw CommandError.data(error.description)
            }
            // A file `labels export --all` wrote: its withdrawn labels are not judgements that stand (imported, they
            // came back to life, outside testing), and a row names its own feed (the file's `feed` column).
            let rows = read.filter { !$0.withdrawn }
            let withdrawn = read.count - rows.count
            var feeds: [Int: String] = [:]
            for row in rows {
                if let own = row.feed {
                    guard Policy.isValidFeed(own) else { throw CommandError.data("\(file):\(row.line): \(PolicyError.invalidFeed(own).description)") }
                    if let feed, feed != own {
                        throw CommandError.data("\(file):\(row.line): the row is of feed '\(own)', not --feed \(feed); leave --feed out to take each row's feed from the file.")
                    }
                }
                feeds[row.line] = row.feed ?? feed ?? "default"
            }
            func feedOf(_ row: DataRow) -> String { feeds[row.line] ?? "default" }
            // One id, two labels: which is meant cannot be told (the later row won without a word).
            var first: [Labels.ImportedLabel: DataRow] = [:]
            for row in rows {
                let key = Labels.ImportedLabel(feed: feedOf(row), id: row.id, label: "")
                if let earlier = first[key], earlier.label != row.label {
                    throw CommandError.data("\(file): id '\(row.id)' is labelled '\(earlier.label)' on line \(earlier.line) and '\(row.label)' on line \(row.line); keep one.")
                }
                first[key] = first[key] ?? row
            }
            if !ignoreText {
                // An id of the file that names a stored item with another text names another item (ids of two systems
                // that collide): its label would land on the wrong post.
                for (feed, group) in Dictionary(grouping: first, by: \.key.feed) {
                    let byID = Dictionary(uniqueKeysWithValues: group.map { ($0.key.id, $0.value) })
                    for item in try await Labels.storedItems(in: store, feed: feed, ids: group.map(\.value.id)) {
                        guard let row = byID[Array(item.submission.id.utf8)], row.text != item.submission.text else { continue }
                        throw CommandError.data("""
                            \(file):\(row.line): id '\(row.id)' names a stored item of feed \(feed) whose text is not the file's \
                            ("\(Terminal.visible(String(item.submission.text.prefix(60))))…"): is the id another system's? Check the ids and --feed, \
                            or pass --ignore-text to label the stored items anyway.
                            """)
                    }
                }
            }
            // A label already stored the same way (this file imported before, or an id twice in it) is not stored
            // again (outside testing: importing a file twice doubled every label).
            var seen = try await Labels.importedLabels(in: store, by: by, tier: tier,
                                                       ids: Dictionary(grouping: rows, by: feedOf).mapValues { $0.map(\.id) })
            var fresh: [DataRow] = []
            for row in rows where seen.insert(Labels.ImportedLabel(feed: feedOf(row), id: row.id, label: row.label)).inserted { fresh.append(row) }
            let now = Date()
            let stored = fresh.isEmpty ? [] : try await store.addLabels(fresh.map {
                LabelRecord(feed: feedOf($0), itemID: $0.id, label: $0.label, source: "import", by: by, at: now, tier: tier)
            })
            let skipped = rows.count - fresh.count
            let into = Set(rows.map(feedOf)).sorted()
            print("Imported \(stored.count) label\(stored.count == 1 ? "" : "s") from \(file) into \(database.path) (feed\(into.count == 1 ? "" : "s") \(into.joined(separator: ", ")), tier \(tier))"
                + (skipped == 0 ? "" : "; \(skipped) already stored the same way (same feed, id, label, --by and tier, not withdrawn) were left as they are")
                + (withdrawn == 0 ? "." : "; \(withdrawn) withdrawn in the file were left out."))
        }
    }
}
