import Foundation
import Services
import Testing
import TestSupport

@testable import WinnowCLI

/// Runs the real `winnow` executable (built beside the test bundle) on files in a temporary folder.
struct EndToEndTests {
    static let executable: URL? = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = here.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("winnow")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the executable to its end; with `timeout`, a process still running after that many seconds is
    /// terminated (for commands that would otherwise serve until stopped).
    static func run(_ arguments: [String], stdin: String? = nil, timeout: Double? = nil) throws -> Result {
        let process = Process()
        process.executableURL = try #require(executable, "build the winnow executable first (swift build --build-tests builds it)")
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let timeout {
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { if process.isRunning { process.terminate() } }
        }
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static func folder() throws -> String {
        try Scratch.directory("e2e").path
    }

    /// A client command's bad --url or missing key is a bad argument: 64 (outside testing: 1, as when the server fails).
    @Test(.enabled(if: executable != nil))
    func aClientsBadURLOrMissingKeyIsAUsageError() throws {
        let dir = try Self.folder()
        try "{}".write(toFile: dir + "/cli.json", atomically: true, encoding: .utf8)
        let url = try Self.run(["queue", "stats", "--client-config", dir + "/cli.json", "--url", "notaurl", "--key", "k"])
        #expect(url.status == 64 && url.stderr.contains("'notaurl' is not a server URL"), "\(url.stderr)")
        if ProcessInfo.processInfo.environment["WINNOW_KEY"] == nil {
            let key = try Self.run(["queue", "stats", "--client-config", dir + "/cli.json", "--url", "http://127.0.0.1:9"])
            #expect(key.status == 64 && key.stderr.contains("No API key"), "\(key.stderr)")
        }
        try #"{"url": "nowhere"}"#.write(toFile: dir + "/cli.json", atomically: true, encoding: .utf8)
        let file = try Self.run(["queue", "stats", "--client-config", dir + "/cli.json", "--key", "k"])
        #expect(file.status == 65 && file.stderr.contains("the client config's"), "\(file.stderr)")
    }

    @Test(.enabled(if: executable != nil), arguments: ["nb", "complement-nb", "logistic"])
    func trainEvaluateScoreInspect(_ algorithm: String) throws {
        let dir = try Self.folder()
        let generated = try Self.run(["datasets", "demo", "--out", dir, "--per-class", "60"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let model = dir + "/m.winnow"
        let trained = try Self.run(["train", "--data", dir + "/train.csv", "--algorithm", algorithm, "--out", model, "--bucket-bits", "16"])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("Trained \(algorithm) model"))
        #expect(trained.stdout.contains("Held-out metrics"))

        let evaluated = try Self.run(["evaluate", "--model", model, "--data", dir + "/test.csv", "--json", "--report", dir + "/r.html"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as? [String: Any])
        let macroF1 = try #require(json["macroF1"] as? Double)
        #expect(macroF1 > 0.9)
        #expect((json["confusionMatrix"] as? [[Int]])?.count == 3)
        // The most confident mistakes per class (issue 18), each with its row, classes, probability and reasons.
        let mistakes = try #require(json["mistakes"] as? [[String: Any]])
        #expect(mistakes.allSatisfy { $0["truth"] as? String != $0["predicted"] as? String && $0["reasons"] is [Any] })
        // Rows count from 1, as in the table.
        #expect(mistakes.allSatisfy { ($0["row"] as? Int ?? 0) >= 1 })
        let html = try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("Confusion matrix") && html.contains("Reliability"))

        let table = try Self.run(["evaluate", "--model", model, "--data", dir + "/test.csv"])
        #expect(table.stdout.contains("macro-F1") && table.stdout.contains("Confusion matrix"))

        let scored = try Self.run(["score", "--model", model], stdin: "{\"id\": \"a\", \"text\": \"WINNER!! claim your FREE prize, call 09061701461\"}\nnot json\n{\"id\": 7, \"text\": \"see you at lunch tomorrow\"}\n")
        #expect(scored.status == 65)
        let lines = scored.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 3)
        #expect(lines[0]?["label"] as? String == "spam")
        #expect(lines[0]?["id"] as? String == "a")
        #expect((lines[0]?["reasons"] as? [Any])?.isEmpty == false)
        #expect(lines[1]?["line"] as? Int == 2)
        #expect(lines[2]?["label"] as? String == "clear")
        #expect(lines[2]?["id"] as? Int == 7)
        let probabilities = try #require(lines[2]?["probabilities"] as? [String: Double])
        #expect(abs(probabilities.values.reduce(0, +) - 1) < 1e-4)
        // A byte-order mark before the first line is read past, as train and evaluate do (it failed the line).
        let marked = try Self.run(["score", "--model", model], stdin: "\u{FEFF}{\"id\": \"b\", \"text\": \"see you at lunch\"}\n")
        #expect(marked.status == 0 && marked.stdout.hasPrefix("{\"id\":\"b\","), "\(marked.stdout) \(marked.stderr)")

        let single = try Self.run(["score", "--model", model, "you are such a loser"])
        #expect(single.stdout.hasPrefix("offensive "))
        let explained = try Self.run(["score", "--model", model, "--explain", "claim your free prize"])
        #expect(explained.stdout.contains("toward spam: "))
        #expect(explained.stdout.contains("toward clear: "))

        let card = try Self.run(["models", "inspect", model])
        #expect(card.stdout.contains("# Model m@"))
        #expect(card.stdout.contains("classes: clear"))
    }

    /// A simulation stopped with Ctrl-C removes its temporary database (the folder was left behind, one per run).
    @Test(.enabled(if: executable != nil)) func anInterruptedSimulationRemovesItsTemporaryFolder() throws {
        let dir = try Self.folder()
        #expect(try Self.run(["datasets", "demo", "--out", dir, "--per-class", "1500"]).status == 0)
        let temporary = try Scratch.directory("simulate-tmp")
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = ["simulate", "--data", dir + "/train.csv", "--rounds", "10", "--quiet"]
        process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": temporary.path]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Interrupted once its database exists.
        func database() -> Bool {
            let runs = (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
            return runs.contains { !((try? FileManager.default.contentsOfDirectory(atPath: temporary.appendingPathComponent($0).path)) ?? []).isEmpty }
        }
        let deadline = Date().addingTimeInterval(60)
        while !database() && process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        try #require(process.isRunning, "the simulation ended before it could be interrupted; give it more posts")
        #expect(database())
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + SIGINT)
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary.path) == [])
    }

    /// Outside testing: rounds are of equal size, and the stream's remainder went unposted without a word.
    @Test(.enabled(if: executable != nil)) func aSimulationSaysHowManyPostsItLeftUnposted() throws {
        let dir = try Self.folder()
        #expect(try Self.run(["datasets", "demo", "--out", dir, "--per-class", "300"]).status == 0)
        let posts = try String(contentsOfFile: dir + "/train.csv", encoding: .utf8).split(separator: "\n").count - 1
        // The default shares: 5% trains the first model, 10% is the gate's; the rest streams in 2 equal rounds.
        let stream = posts - Int((Double(posts) * 0.05).rounded()) - Int((Double(posts) * 0.1).rounded())
        let unused = stream % 2
        try #require(unused > 0, "\(posts) posts divide into 2 rounds; pick another count")
        let run = try Self.run(["simulate", "--data", dir + "/train.csv", "--rounds", "2", "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("gate split \(Int((Double(posts) * 0.1).rounded())). \(unused) post\(unused == 1 ? "" : "s") of the stream left unposted (2 equal rounds)."),
                "\(run.stdout)")
    }

    @Test(.enabled(if: executable != nil)) func policySuggestSolvesCutOffs() throws {
        let dir = try Self.folder()
        _ = try Self.run(["datasets", "demo", "--out", dir, "--per-class", "60"])
        let model = dir + "/p.winnow"
        #expect(try Self.run(["train", "--data", dir + "/train.csv", "--out", model, "--bucket-bits", "16"]).status == 0)
        let r = try Self.run(["policy", "suggest", "--feed", "news", "--model", model, "--data", dir + "/test.csv", "--target-precision", "0.95", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let policy = try #require(json["policy"] as? [String: Any])
        #expect(policy["feed"] as? String == "news")
        let rules = try #require(policy["rules"] as? [String: Any])
        #expect(Set(rules.keys) == ["offensive", "spam"])
        let shares = try #require(json["shares"] as? [String: Double])
        #expect(abs(shares.values.reduce(0, +) - 1) < 1e-9)
        let classes = try #require(json["classes"] as? [[String: Any]])
        for c in classes where c["precision"] != nil { #expect((c["precision"] as? Double ?? 0) >= 0.95) }
        // The table shows the same review rate, per class and for the whole policy.
        let table = try Self.run(["policy", "suggest", "--feed", "news", "--model", model, "--data", dir + "/test.csv", "--target-precision", "0.95"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("review"))
        let together = ["allow", "demote", "review", "remove"].map { "\($0) \(String(format: "%.3f", shares[$0] ?? -1))" }.joined(separator: ", ")
        #expect(table.stdout.contains("With all of them together: \(together) of the rows"), "\(table.stdout)")
        for c in classes {
            let label = try #require(c["label"] as? String)
            let review = try #require(c["reviewShare"] as? Double)
            let row = table.stdout.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label + " ") }
            #expect(row?.hasSuffix(String(format: "%.3f", review)) == true, "\(label): \(row ?? "no row")")
        }
        // Data without spam: spam keeps the standard rule (its suggestion, "never remove", would turn removals off).
        let noSpam = dir + "/no-spam.csv"
        let kept = try String(contentsOfFile: dir + "/test.csv", encoding: .utf8).split(separator: "\n").filter { !$0.hasSuffix(",spam") }
        try (kept.joined(separator: "\n") + "\n").write(toFile: noSpam, atomically: true, encoding: .utf8)
        let partial = try Self.run(["policy", "suggest", "--feed", "news", "--model", model, "--data", noSpam, "--json"])
        let partialRules = (try JSONSerialization.jsonObject(with: Data(partial.stdout.utf8)) as? [String: Any]).flatMap { ($0["policy"] as? [String: Any])?["rules"] as? [String: [String: Double]] }
        #expect(partialRules?["spam"] == ["demote": 0.5, "review": 0.7, "remove": 0.97], "\(partial.stdout)\(partial.stderr)")
        let partialTable = try Self.run(["policy", "suggest", "--feed", "news", "--model", model, "--data", noSpam])
        #expect(partialTable.stdout.contains("(no rows labelled spam: its standard rule is kept, demote 0.5, review 0.7, remove 0.97)"), "\(partialTable.stdout)")
        // Its row in the table is that rule (it read "remove at never, allow below 0.0589").
        let spamRow = partialTable.stdout.split(separator: "\n").first { $0.hasPrefix("  spam ") }.map(String.init) ?? ""
        #expect(spamRow.split(separator: " ").map(String.init) == ["spam", "0.9700", "-", "-", "0.5000", "-", "-", "(standard", "rule", "kept)"], "\(spamRow)")
        // Outside testing: a clear label the model lacks made every class harmful; gate options without a gate, a
        // report the gate does not write and a misspelt class in --recall-drop were accepted and did nothing.
        let ham = try Self.run(["policy", "suggest", "--model", model, "--data", dir + "/test.csv", "--clear-label", "ham"])
        #expect(ham.status == 64 && ham.stderr.contains("--clear-label 'ham' is not a class of"), "\(ham.stderr)")
        let typo = try Self.run(["evaluate", "--candidate", model, "--against", model, "--data", dir + "/test.csv", "--recall-drop", "spma=0.1"])
        #expect(typo.status == 64 && typo.stderr.contains("--recall-drop names 'spma', which neither model has; did you mean 'spam'?"), "\(typo.stderr)")
        let report = try Self.run(["evaluate", "--candidate", model, "--against", model, "--data", dir + "/test.csv", "--report", dir + "/r.html"])
        #expect(report.status == 64 && !FileManager.default.fileExists(atPath: dir + "/r.html"), "\(report.stderr)")
        let noGate = try Self.run(["evaluate", "--model", model, "--data", dir + "/test.csv", "--recall-drop", "spam=0.1"])
        #expect(noGate.status == 64 && noGate.stderr.contains("is an option of the gate"), "\(noGate.stderr)")
    }

    @Test(.enabled(if: executable != nil)) func errorsNameTheFileAndLine() throws {
        let dir = try Self.folder()
        let oneClass = dir + "/one.csv"
        try "id,text,label\n1,hello,clear\n2,hi there,clear\n".write(toFile: oneClass, atomically: true, encoding: .utf8)
        let r1 = try Self.run(["train", "--data", oneClass, "--out", dir + "/x.winnow"])
        // One set of exit codes for every command (issue 18: 64, 65 and 1 for the same kind of error): 65 for an
        // input the command cannot use, 64 for a bad option.
        #expect(r1.status == 65)
        #expect(r1.stderr.contains("every row has the label 'clear' (first at \(oneClass):2)"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.winnow"))

        // A file where the demo's folder should be is named (it printed Foundation's "NSCocoaErrorDomain Code=516").
        let onFile = try Self.run(["datasets", "demo", "--out", oneClass])
        #expect(onFile.status == 64 && onFile.stderr.contains("--out \(oneClass) is a file; give a folder"), "\(onFile.stderr)")

        // Where the model cannot go is said before training (it failed after the whole fit).
        try FileManager.default.createDirectory(atPath: dir + "/folder.winnow", withIntermediateDirectories: true)
        let toFolder = try Self.run(["train", "--data", oneClass, "--out", dir + "/folder.winnow"])
        #expect(toFolder.status == 64 && toFolder.stderr.contains("folder.winnow is a folder"), "\(toFolder.stderr)")
        let underFile = try Self.run(["train", "--data", oneClass, "--out", oneClass + "/sub/m.winnow"])
        #expect(underFile.status == 64 && underFile.stderr.contains("\(oneClass) is a file, where the model's folder should be"), "\(underFile.stderr)")

        let missing = try Self.run(["evaluate", "--model", dir + "/none.winnow", "--data", oneClass])
        #expect(missing.status == 65)
        #expect(missing.stderr.contains("Cannot read the model"))

        try Data("WNNW garbage".utf8).write(to: URL(fileURLWithPath: dir + "/bad.winnow"))
        let corrupt = try Self.run(["score", "--model", dir + "/bad.winnow", "x"])
        #expect(corrupt.status == 65)
        #expect(try Self.run(["score", "--model", dir + "/bad.winnow", "--reasons", "99", "x"]).status == 64)
        #expect(try Self.run(["train", "--data", dir + "/absent.csv", "--out", dir + "/y.winnow"]).status == 65)
        #expect(corrupt.stderr.contains("bad.winnow"))
        // A model with a class of too few rows refuses to score: an input the command cannot use, 65 (it was 1).
        var thin = "id,text,label\n"
        for n in 0..<12 { thin += "\(n),see you at lunch number \(n),clear\n" }
        thin += "90,win a prize now,spam\n91,claim your prize,spam\n"
        try thin.write(toFile: dir + "/thin.csv", atomically: true, encoding: .utf8)
        #expect(try Self.run(["train", "--data", dir + "/thin.csv", "--out", dir + "/thin.winnow", "--bucket-bits", "12", "--allow-rare-classes"]).status == 0)
        let refused = try Self.run(["score", "--model", dir + "/thin.winnow", "hello"])
        #expect(refused.status == 65 && refused.stderr.contains("thin.winnow"), "\(refused.stderr)")
        #expect(try Self.run(["evaluate", "--model", dir + "/thin.winnow", "--data", dir + "/thin.csv"]).status == 65)

        // Labels that differ only in case would each be a class (outside testing: six classes from two).
        let cased = dir + "/cased.csv"
        var rows = "id,text,label\n"
        for n in 0..<40 { rows += "\(n),message number \(n) \(n % 2 == 0 ? "win a prize now" : "see you at lunch"),\(["spam", "SPAM", "clear", "Clear"][n % 4])\n" }
        try rows.write(toFile: cased, atomically: true, encoding: .utf8)
        for command in [["train", "--data", cased, "--out", dir + "/cased.winnow"], ["simulate", "--data", cased, "--rounds", "2"]] {
            let refused = try Self.run(command)
            #expect(refused.status == 65, "\(command[0]): \(refused.stderr)")
            #expect(refused.stderr.contains("labels differ only in case: 'Clear' (first at \(cased):5), 'clear' (first at \(cased):4); 'SPAM' (first at \(cased):3), 'spam' (first at \(cased):2)"), "\(refused.stderr)")
            #expect(refused.stderr.contains("--label-map Clear=clear"), "\(refused.stderr)")
        }
        #expect(try Self.run(["train", "--data", cased, "--out", dir + "/cased.winnow", "--label-map", "SPAM=spam", "--label-map", "Clear=clear"]).status == 0)
    }

    /// Issue 18: a typo in one label (`hamm`) trained a model with a one-row class, printed macro-F1 1.0000 for it,
    /// exited 0, and the model then refused to score.
    @Test(.enabled(if: executable != nil)) func aClassWithTooFewRowsIsRefusedNamingTheLabelAndTheNearestOne() throws {
        let dir = try Self.folder()
        _ = try Self.run(["datasets", "demo", "--out", dir, "--per-class", "20"])
        var csv = try String(contentsOfFile: dir + "/train.csv", encoding: .utf8)
        let labels = Set(csv.split(separator: "\n").dropFirst().compactMap { $0.split(separator: ",").last.map(String.init) })
        let known = try #require(labels.sorted().last)
        csv += "typo-1,a row whose label has a typo,\(known)x\n"
        try csv.write(toFile: dir + "/typo.csv", atomically: true, encoding: .utf8)
        let model = dir + "/typo.winnow"
        let refused = try Self.run(["train", "--data", dir + "/typo.csv", "--out", model, "--bucket-bits", "14"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("'\(known)x' has 1 row (first at \(dir)/typo.csv:"), "\(refused.stderr)")
        #expect(refused.stderr.contains("did you mean '\(known)'?"))
        #expect(refused.stderr.contains("--allow-rare-classes"))
        #expect(!FileManager.default.fileExists(atPath: model))
        let allowed = try Self.run(["train", "--data", dir + "/typo.csv", "--out", model, "--bucket-bits", "14", "--allow-rare-classes"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(allowed.stdout.contains("Warning: \(known)x has fewer than 5 examples"))
    }

    @Test(.enabled(if: executable != nil)) func aFailedTrainingKeepsThePreviousModel() throws {
        let dir = try Self.folder()
        _ = try Self.run(["datasets", "demo", "--out", dir, "--per-class", "20"])
        let model = dir + "/keep.winnow"
        #expect(try Self.run(["train", "--data", dir + "/train.csv", "--out", model, "--bucket-bits", "14"]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: model))
        try "id,text,label\n1,,spam\n".write(toFile: dir + "/empty.csv", atomically: true, encoding: .utf8)
        let failed = try Self.run(["train", "--data", dir + "/empty.csv", "--out", model])
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("empty.csv:2: the text of row '1' is empty"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == before)
    }
}

/// The shared public data sets, when present beside the repository (they are not needed for the tests).
struct SharedDatasetTests {
    static let datasets: String? = {
        // Tests/WinnowCLITests/this file → the repository → its parent, where shared/ sits.
        let parent = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let path = parent.appendingPathComponent("shared/datasets").path
        return FileManager.default.fileExists(atPath: path + "/sms_spam/train.csv") ? path : nil
    }()

    @Test(.enabled(if: datasets != nil, "../shared/datasets is not present: skipping the check on the public SMS set"))
    func theSMSSetReadsCompletely() throws {
        let rows = try DataFileReader().read(Self.datasets! + "/sms_spam/train.csv")
        #expect(rows.count == 4128)
        #expect(Set(rows.map(\.label)) == ["clear", "spam"])
    }
}
