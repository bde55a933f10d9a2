import Foundation
import Testing

/// `winnow labels import|export` on a real SQLite file.
@Suite struct LabelsEndToEndTests {
    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func importThenExportKeepsEveryJudgement() throws {
        let dir = try EndToEndTests.folder()
        let database = dir + "/labels.sqlite"
        let model = ServeEndToEndTests.model
        let missing = try EndToEndTests.run(["labels", "export", "--database", database])
        #expect(missing.status != 0 && missing.stderr.contains("No database at \(database)"))
        #expect(try EndToEndTests.run(["keys", "create", "--role", "admin", "--name", "root", "--database", database]).status == 0)
        // A name or feed that cannot be one is a bad argument: 64 (outside testing: 1, as if the database had failed).
        let badName = try EndToEndTests.run(["keys", "create", "--role", "admin", "--name", "bad name", "--database", database])
        #expect(badName.status == 64 && badName.stderr.contains("--name: use 1-64 letters"), "\(badName.stderr)")
        #expect(try EndToEndTests.run(["keys", "create", "--role", "feed", "--feeds", "News", "--name", "n", "--database", database]).status == 64)

        try "id,text,label\nx1,\"win a prize, call now\",spam\nx2,see you at six,clear\n".write(toFile: dir + "/good.csv", atomically: true, encoding: .utf8)
        let imported = try EndToEndTests.run(["labels", "import", dir + "/good.csv", "--database", database, "--model", model, "--feed", "news",
                                              "--by", "annotators", "--tier", "2"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("Imported 2 labels"))
        // The same file again (and an id twice in one file) stores nothing twice; a new row, another tier or --by do.
        try "id,text,label\nx1,\"win a prize, call now\",spam\nx2,see you at six,clear\nx4,fine,clear\nx4,fine,clear\n"
            .write(toFile: dir + "/again.csv", atomically: true, encoding: .utf8)
        let again = try EndToEndTests.run(["labels", "import", dir + "/again.csv", "--database", database, "--model", model, "--feed", "news",
                                           "--by", "annotators", "--tier", "2"])
        #expect(again.status == 0 && again.stdout.contains("Imported 1 label from") && again.stdout.contains("; 3 already stored the same way"),
                "\(again.stdout)\(again.stderr)")

        // "café" composed and decomposed are two ids: not one id given two labels.
        try "id,text,label\ncaf\u{E9},a,spam\ncafe\u{301},b,clear\n".write(toFile: dir + "/accents.csv", atomically: true, encoding: .utf8)
        let accents = try EndToEndTests.run(["labels", "import", dir + "/accents.csv", "--database", database, "--model", model, "--feed", "cafe"])
        #expect(accents.status == 0 && accents.stdout.contains("Imported 2 labels"), "\(accents.stdout)\(accents.stderr)")

        try "id,text,label\nx3,hello,ham\n".write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        let bad = try EndToEndTests.run(["labels", "import", dir + "/bad.csv", "--database", database, "--model", model])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("bad.csv:2: unknown label 'ham'"), "\(bad.stderr)")

        // A file as `labels export --all` writes it: each row's feed is its own, and withdrawn rows are left out
        // (outside testing: every row went to --feed, and withdrawn labels came back to life).
        try "id,text,label,feed,withdrawn_at\ny1,see you,clear,news,\ny2,free prize,spam,sms,\ny3,a scam,spam,news,2026-11-02T10:00:00Z\n"
            .write(toFile: dir + "/exported.csv", atomically: true, encoding: .utf8)
        let otherFeed = try EndToEndTests.run(["labels", "import", dir + "/exported.csv", "--database", database, "--model", model, "--feed", "sms"])
        #expect(otherFeed.status == 65 && otherFeed.stderr.contains("exported.csv:2: the row is of feed 'news', not --feed sms"), "\(otherFeed.stderr)")
        let back = try EndToEndTests.run(["labels", "import", dir + "/exported.csv", "--database", database, "--model", model])
        #expect(back.status == 0 && back.stdout.contains("Imported 2 labels") && back.stdout.contains("(feeds news, sms, tier 1); 1 withdrawn in the file were left out."),
                "\(back.stdout)\(back.stderr)")

        let all = try EndToEndTests.run(["labels", "export", "--database", database, "--all", "--format", "jsonl"])
        #expect(all.status == 0, "\(all.stderr)")
        let lines = all.stdout.split(separator: "\n").map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:] }
        #expect(lines.map { ($0["id"] as? String).map { Array($0.unicodeScalars) } } == ["x1", "x2", "x4", "caf\u{E9}", "cafe\u{301}", "y1", "y2"].map { Array($0.unicodeScalars) })
        #expect(lines.map { $0["label"] as? String } == ["spam", "clear", "clear", "spam", "clear", "clear", "spam"])
        #expect(lines.map { $0["feed"] as? String } == ["news", "news", "news", "cafe", "cafe", "news", "sms"])
        #expect(lines.prefix(3).allSatisfy { $0["source"] as? String == "import" && $0["tier"] as? Int == 2 && $0["by"] as? String == "annotators" })

        // The default export is the training file: items Winnow has stored, one label each. None are stored here.
        let csv = try EndToEndTests.run(["labels", "export", "--database", database, "--out", dir + "/out.csv"])
        #expect(csv.status == 0)
        let written = try String(contentsOfFile: dir + "/out.csv", encoding: .utf8)
        #expect(written.hasPrefix("id,text,label,feed,source,by,at,tier") && written.hasSuffix("\n") && !written.hasSuffix("\n\n"), "\(written)")
        let badSince = try EndToEndTests.run(["labels", "export", "--database", database, "--since", "soon"])
        #expect(badSince.stderr.contains("is not a date") && badSince.status == 64, "\(badSince.status) \(badSince.stderr)")
    }

    /// Outside testing: a file whose id named a stored item with another text labelled that item without a word (ids
    /// of two systems that collide), and an id given two labels kept the later one. Both are refused, naming the line.
    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func aFileWhoseIdsNameOtherItemsIsRefused() async throws {
        let s = try await ReviewEndToEndTests.setUp(items: 1)
        defer { s.server.kill9() }
        let dir = try EndToEndTests.folder()
        try "id,text,label\np0,completely different text than stored,clear\n".write(toFile: dir + "/other.csv", atomically: true, encoding: .utf8)
        let arguments = ["--database", s.database, "--model", ServeEndToEndTests.model]
        let refused = try EndToEndTests.run(["labels", "import", dir + "/other.csv"] + arguments)
        #expect(refused.status == 65 && refused.stderr.contains("other.csv:2: id 'p0' names a stored item of feed default whose text is not the file's"),
                "\(refused.stderr)")
        let forced = try EndToEndTests.run(["labels", "import", dir + "/other.csv", "--ignore-text"] + arguments)
        #expect(forced.status == 0, "\(forced.stderr)")
        try "id,text,label\nz1,one,clear\nz2,two,spam\nz1,one,spam\n".write(toFile: dir + "/twice.csv", atomically: true, encoding: .utf8)
        let twice = try EndToEndTests.run(["labels", "import", dir + "/twice.csv"] + arguments)
        #expect(twice.status == 65 && twice.stderr.contains("id 'z1' is labelled 'clear' on line 2 and 'spam' on line 4"), "\(twice.stderr)")
    }
}
