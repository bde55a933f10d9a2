import ArgumentParser
import Engine
import Foundation
import Services
import Testing
import TestSupport
import WinnowJSON

@testable import Learning
@testable import WinnowCLI

struct ParsingTests {
    @Test func serveLayersFlagsOverVariablesOverTheFileOverDefaults() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-serve-\(UUID().uuidString).json")
        try Data(#"{"host": "10.0.0.1", "port": 7000, "database": "file.sqlite", "model": "file.winnow", "maxBatchItems": 10}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let serve = try #require(try Winnow.parseAsRoot(["serve", "--host", "0.0.0.0", "--database", "flag.sqlite"]) as? Serve)
        let c = try serve.options.load(environment: ["WINNOW_CONFIG": file.path, "WINNOW_PORT": "7001", "WINNOW_DATABASE": "env.sqlite"])
        #expect(c.host == "0.0.0.0")  // the flag
        #expect(c.database == "flag.sqlite")  // the flag over the variable
        #expect(c.port == 7001)  // the variable over the file
        #expect(c.model == "file.winnow")  // the file over the default
        #expect(c.maxBatchItems == 10)
        // --config wins over WINNOW_CONFIG, and an unreadable file is named.
        let elsewhere = try #require(try Winnow.parseAsRoot(["serve", "--config", "/nonexistent/winnow.json", "--port", "0"]) as? Serve)
        #expect(throws: CommandError.self) { try elsewhere.options.load(environment: ["WINNOW_CONFIG": file.path]) }
        do {
            _ = try elsewhere.options.load(environment: ["WINNOW_CONFIG": file.path])
        } catch {
            #expect("\(error)".contains("/nonexistent/winnow.json"), "\(error)")
        }
        let defaults = try #require(try Winnow.parseAsRoot(["serve"]) as? Serve).options.load(environment: [:])
        #expect(defaults.host == "127.0.0.1" && defaults.port == 8080 && defaults.database == "winnow.sqlite" && defaults.model == "models/default.winnow")
    }

    @Test func trainParsesItsOptions() throws {
        let command = try Winnow.parseAsRoot([
            "train", "--data", "a.csv", "--data", "b.jsonl", "--algorithm", "nb", "--out", "models/x.winnow",
            "--label-map", "ham=clear", "--char-ngrams", "1-4", "--bucket-bits", "18", "--alpha", "0.5",
        ])
        let train = try #require(command as? Train)
        #expect(train.data == ["a.csv", "b.jsonl"])
        #expect(train.algorithm == .naiveBayes)
        let options = try train.options()
        #expect(options.featurizer.charNgramMin == 1 && options.featurizer.charNgramMax == 4)
        #expect(options.featurizer.bucketBits == 18)
        #expect(options.naiveBayes.alpha == 0.5)
        #expect(try parseLabelMap(train.labelMap) == ["ham": "clear"])
    }

    /// Outside testing: the retraining log's gate lines gave figures without saying which column is which.
    @Test func theDefaultVersionIsOneTheRegistryTakes() {
        for (out, start) in [("models/spam.winnow", "spam@"), ("my model (v2).winnow", "my-model--v2-@"), ("_x.winnow", "model-_x@"), ("é.winnow", "model--@")] {
            let version = Train.defaultVersion(out: out)
            #expect(version.hasPrefix(start) && ModelRegistry.isVersionName(version), "\(version)")
        }
    }

    @Test func theRetrainingLogNamesItsColumns() {
        var pass = RetrainPass(id: 3, feed: nil, trigger: "schedule", by: "node", at: Date(timeIntervalSince1970: 0), leaseUntil: Date(timeIntervalSince1970: 0),
                               labelsThrough: 0)
        pass.gate = [RetrainGateResult(rows: "test data", count: 400, verdict: EvaluationGate.Verdict(passed: true, checks: [
            EvaluationGate.Check(name: "macro-F1", candidate: 0.8123, active: 0.8, allowedDrop: 0.01, passed: true, change: 0.0123,
                                 interval: EvaluationGate.Interval(low: -0.004, high: 0.03)),
        ]))]
        let lines = Retrain.describe(pass).split(separator: "\n").map(String.init)
        let header = try? #require(lines.first { $0.hasPrefix("    check") })
        let row = try? #require(lines.first { $0.hasPrefix("    macro-F1") })
        #expect(header?.contains("candidate") == true && header?.contains("active") == true && header?.contains("change [interval]") == true)
        // Each name ends where its figure does (right-aligned columns).
        for (name, figure) in [("candidate", "0.8123"), ("active", "0.8000"), ("change [interval]", "+0.0123 [-0.0040, +0.0300]")] {
            #expect(header?.range(of: name)?.upperBound.utf16Offset(in: header ?? "") == row?.range(of: figure)?.upperBound.utf16Offset(in: row ?? ""),
                    "\(name): \(header ?? "")\n\(row ?? "")")
        }
    }

    @Test func negativeNumbersAreJoinedToTheirOptionOnly() {
        #expect(Winnow.joiningNegativeValues(["simulate", "--c", "-1", "--seed", "7", "--rounds", "-2.5e1"])
                == ["simulate", "--c=-1", "--seed", "7", "--rounds=-2.5e1"])
        // A flag followed by an option, "-" for standard input, a value given with "=", and anything after "--" stay.
        #expect(Winnow.joiningNegativeValues(["score", "--json", "--model", "-", "--c=-1", "--", "--c", "-1"])
                == ["score", "--json", "--model", "-", "--c=-1", "--", "--c", "-1"])
    }

    @Test func statsTakesAPeriodAndSimulateItsOptions() throws {
        let stats = try #require(try Winnow.parseAsRoot(["stats", "--since", "2026-11-01", "--until", "2026-11-08T12:00:00Z"]) as? Stats)
        #expect(try stats.query() == "?since=2026-11-01T00:00:00Z&until=2026-11-08T12:00:00Z")
        #expect(try (Winnow.parseAsRoot(["stats"]) as? Stats)?.query() == "")
        let simulate = try #require(try Winnow.parseAsRoot(["simulate", "--data", "a.csv", "--rounds", "4", "--review-capacity", "50",
                                                            "--reviewer-error", "0.1", "--algorithm", "nb", "--bucket-bits", "16"]) as? Simulate)
        let options = try simulate.options()
        #expect(options.rounds == 4 && options.reviewCapacity == 50 && options.reviewerError == 0.1)
        #expect(options.training.algorithm == .naiveBayes && options.training.featurizer.bucketBits == 16)
        #expect(options.seed == 42 && options.auditRate == 0.02 && options.initialShare == 0.05)
        #expect(options.training.logistic.classWeight == .balanced && options.training.logistic.c == 10)
        let unweighted = try #require(try Winnow.parseAsRoot(["simulate", "--data", "a.csv", "--class-weight", "none"]) as? Simulate)
        #expect(try unweighted.options().training.logistic.classWeight == ClassWeight.none)
        let weaker = try #require(try Winnow.parseAsRoot(["simulate", "--data", "a.csv", "--c", "30"]) as? Simulate)
        #expect(try weaker.options().training.logistic.c == 30)
        let folds = try #require(try Winnow.parseAsRoot(["simulate", "--data", "a.csv", "--calibration-folds", "0"]) as? Simulate)
        #expect(try folds.options().training.calibrationFolds == 0)
        #expect(try #require(try Winnow.parseAsRoot(["simulate", "--data", "a.csv"]) as? Simulate).options().training.calibrationFolds == 5)
    }

    @Test(arguments: [
        (["stats", "--since", "last week"], "--since last week is not a date; use 2026-11-01 or 2026-11-01T09:00:00Z."),
        (["simulate", "--rounds", "3"], "Please give the labelled posts to replay with --data FILE."),
        (["simulate", "--data", "a.csv", "--reviewer-error", "2"], "Please fix the options: --reviewer-error is 2.0; give a probability in 0...1."),
        (["simulate", "--data", "a.csv", "--c", "0"], "Please give --c above 0 (for example 10); got 0.0."),
        (["simulate", "--data", "a.csv", "--calibration-folds", "-1"], "--calibration-folds must be 0-20 (0 or 1 turns cross-fitting off); got -1."),
        (["train", "--out", "m.winnow"], "Please give at least one --data FILE with labelled rows, or --from-store."),
        (["train", "--data", "a.csv", "--out", "m.bin"], "Please name the model file with the .winnow extension; got 'm.bin'."),
        // Outside testing: the model was written and the registry refused its name only when it was registered.
        (["train", "--data", "a.csv", "--out", "m.winnow", "--name", "bad name/x"],
         "--name 'bad name/x' (10 bytes) cannot name a model version: use 1-128 letters, digits and ._@:+- starting with a letter or digit."),
        (["train", "--data", "a.csv", "--out", "m.winnow", "--calibration-folds", "21"], "--calibration-folds must be 0-20 (0 or 1 turns cross-fitting off); got 21."),
        (["train", "--data", "a.csv", "--out", "m.winnow", "--label-map", "ham"], "Please write --label-map as FROM=TO (for example --label-map ham=clear); got 'ham'."),
        (["train", "--data", "a.csv", "--out", "m.winnow", "--char-ngrams", "x"], "Please write --char-ngrams as MIN-MAX (for example 2-5) or 0; got 'x'."),
        // Outside testing: these were checked only in run(), under the root command's usage line, and named by the
        // JSON configuration's names ('minDocumentFrequency', 'bucketBits').
        (["train", "--data", "a.csv", "--out", "m.winnow", "--min-df", "0"], "--min-df 0 cannot be used: expected an integer >= 1."),
        (["train", "--data", "a.csv", "--out", "m.winnow", "--holdout", "0.9"], "--holdout 0.9 cannot be used: expected a fraction in 0...0.5."),
        (["train", "--data", "a.csv", "--out", "m.winnow", "--char-ngrams", "5-2"],
         "--char-ngrams 5-2 cannot be used: expected MIN-MAX with 1 <= MIN <= MAX <= 8, or 0 to turn character n-grams off."),
        (["simulate", "--data", "a.csv", "--bucket-bits", "30"], "--bucket-bits 30 cannot be used: expected an integer in 10...24."),
        (["evaluate", "--model", "m.winnow"], "Please give at least one --data FILE with labelled rows."),
        (["evaluate", "--model", "m.winnow", "--data", "a.csv", "--mistakes", "-1"], "Please give --mistakes 0 or more (0 shows none); got -1."),
        (["score", "--model", "m.winnow", "--reasons", "99"], "Please give --reasons between 0 and 50; got 99."),
        (["policy", "suggest", "--data", "a.csv", "--target-precision", "1.5"], "Please give --target-precision between 0 and 1 (for example 0.98); got 1.5."),
        (["policy", "suggest", "--data", "a.csv", "--feed", "News"], "--feed: " + PolicyError.invalidFeed("News").description),
        // Issue 18: this printed a Swift decoding error.
        (["review", "decide", "4", "--label", "spam", "--reason", "spam", "--action", "ban"], "--action is allow, demote or remove; got 'ban'."),
        (["keys", "create", "--role", "moderator", "--name", "a", "--tiers", "3"], "--tiers is 1, 2 or 1,2; got '3'."),
        // Outside testing: an option of the other algorithm was recorded in the model and ignored.
        (["train", "--data", "a.csv", "--out", "m.winnow", "--algorithm", "nb", "--c", "3"], "--c is an option of --algorithm logistic, not of nb; drop it or change --algorithm."),
        (["train", "--data", "a.csv", "--out", "m.winnow", "--algorithm", "complement-nb", "--class-weight", "none", "--tolerance", "1e-3"],
         "--class-weight, --tolerance are options of --algorithm logistic, not of complement-nb; drop them or change --algorithm."),
        (["train", "--data", "a.csv", "--out", "m.winnow", "--algorithm", "logistic", "--alpha", "0.5"],
         "--alpha is an option of naive Bayes (--algorithm nb or complement-nb), not of logistic; drop it or change --algorithm."),
        (["simulate", "--data", "a.csv", "--algorithm", "nb", "--char-weight", "1"], "--char-weight is an option of --algorithm logistic, not of nb; drop it or change --algorithm."),
        (["train", "--data", "a.csv", "--out", "m.winnow", "--label-map", "ham=clear", "--label-map", "ham = spam"],
         "--label-map renames 'ham' twice, to 'clear' and to 'spam'; give one of them."),
        // A negative value reached the option's own check (it read "Missing value for '--c <c>'").
        (["simulate", "--data", "a.csv", "--c", "-1"], "Please give --c above 0 (for example 10); got -1.0."),
    ])
    func validationErrorsSayWhatToDo(_ arguments: [String], _ message: String) {
        do {
            _ = try Winnow.parseAsRoot(Winnow.joiningNegativeValues(arguments))
            Issue.record("expected a validation error for \(arguments)")
        } catch {
            #expect(Winnow.message(for: error) == message)
            #expect(Winnow.exitCode(for: error) == .validationFailure)
        }
    }

    /// A policy file is read as the API reads a body: a typo, a key given twice or broken JSON is named (this printed a
    /// Swift decoding error, and a repeated key passed with one of its values).
    @Test func aPolicyFileIsReadAsStrictlyAsTheAPIReadsIt() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-policy-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let cases: [(String, String)] = [
            (#"{"rules": {"harm": {"review": 0.7, "remvoe": 0.97}}}"#, "The policy \(file) is not a policy: 'rules.harm.remvoe' is not a field here; did you mean 'remove'?"),
            (#"{"rules": {"harm": {"review": 0.7, "review": 0.8}}}"#, "The policy \(file) is not a policy: 'rules.harm.review' is given twice; give each field once."),
            (#"{"rules": {"harm": {"review": 0.7}"#, "The policy \(file) is not valid JSON: "),
        ]
        for (json, message) in cases {
            try json.write(toFile: file, atomically: true, encoding: .utf8)
            // winnow policy set and winnow simulate --policy: the same words, with the file's name, exit code 65.
            let setMessage = message.replacingOccurrences(of: "The policy \(file)", with: file)
            do {
                _ = try PolicyCommand.Store.policy(in: Data(json.utf8), file: file)
                Issue.record("expected \(json) to be refused")
            } catch { #expect("\(error)".hasPrefix(setMessage), "\(error)") }
            let simulate = try #require(try Winnow.parseAsRoot(["simulate", "--data", "a.csv", "--policy", file]) as? Simulate)
            do {
                _ = try simulate.policyFile(classes: ["clear", "spam"], clearLabel: "clear")
                Issue.record("expected winnow simulate to refuse \(json)")
            } catch let error as CommandError {
                #expect(error.description.hasPrefix(setMessage) && error.code == 65, "\(error)")
            }
        }
        // A class the posts do not have, as the server would refuse it.
        try #"{"rules": {"ofensive": {"review": 0.7}}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let simulate = try #require(try Winnow.parseAsRoot(["simulate", "--data", "a.csv", "--policy", file]) as? Simulate)
        #expect { try simulate.policyFile(classes: ["clear", "offensive"], clearLabel: "clear") } throws: { error in
            (error as? CommandError)?.code == 65 && "\(error)".contains("no class 'ofensive'")
        }
        // What `policy suggest --json` prints: its policy, without version and feed, is what is sent.
        let suggested = #"{"policy": {"feed": "other", "version": 3, "rules": {"harm": {"review": 0.6, "remove": 0.9}}}, "shares": {}}"#
        let (policy, body) = try PolicyCommand.Store.policy(in: Data(suggested.utf8), file: file)
        #expect(policy.rules["harm"]?.remove == 0.9)
        #expect(String(decoding: body, as: UTF8.self) == #"{"rules":{"harm":{"remove":0.9,"review":0.6}}}"#)
    }

    /// Outside testing: a --report into a missing folder failed after the whole simulation, and --keep into a kept run
    /// said "train with another --name". Both are checked before anything runs.
    @Test func simulateChecksItsOutputsFirst() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-keep-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect { try Winnow.parseAsRoot(["simulate", "--data", "a.csv", "--report", "/nonexistent/dir/r.html"]) } throws: {
            Winnow.message(for: $0).contains("the folder /nonexistent/dir does not exist")
        }
        _ = try Winnow.parseAsRoot(["simulate", "--data", "a.csv", "--keep", folder])  // empty: fine
        try "x".write(toFile: folder + "/winnow.sqlite", atomically: true, encoding: .utf8)
        #expect { try Winnow.parseAsRoot(["simulate", "--data", "a.csv", "--keep", folder]) } throws: {
            Winnow.message(for: $0).contains("holds files already")
        }
        #expect { try Winnow.parseAsRoot(["simulate", "--data", "a.csv", "--keep", folder + "/winnow.sqlite"]) } throws: {
            Winnow.message(for: $0).contains("is a file")
        }
    }

    @Test func badAlgorithmIsRejected() {
        #expect(throws: (any Error).self) { try Winnow.parseAsRoot(["train", "--data", "a.csv", "--out", "m.winnow", "--algorithm", "svm"]) }
    }

    @Test(arguments: ["train", "evaluate", "score", "models inspect", "policy suggest", "bench", "datasets demo"])
    func everyCommandHasHelpWithAnExample(_ path: String) throws {
        let names = path.split(separator: " ").map(String.init)
        let help = Winnow.helpMessage(for: try #require(Self.command(names)))
        #expect(help.contains("USAGE: winnow \(path)"))
        #expect(help.contains("winnow \(names[0])"))
    }

    /// Outside testing: `retrain --help` offered serve's --host and --port ("Address to listen on"), which it ignored.
    /// Only serve listens; the commands on a server's data take its database, model and configuration.
    @Test(arguments: [("serve", true), ("retrain", false), ("rescore", false)])
    func onlyServeTakesWhereToListen(_ name: String, listens: Bool) throws {
        let help = Winnow.helpMessage(for: try #require(Self.command([name])))
        #expect(help.contains("--host") == listens && help.contains("--port") == listens, "\(help)")
        #expect(help.contains("--database") && help.contains("--config"))
        if !listens { #expect(throws: (any Error).self, "\(name) refuses --port") { _ = try Winnow.parseAsRoot([name, "--port", "1"]) } }
    }

    static func command(_ names: [String]) -> ParsableCommand.Type? {
        var current: ParsableCommand.Type = Winnow.self
        for name in names {
            guard let next = current.configuration.subcommands.first(where: { $0._commandName == name }) else { return nil }
            current = next
        }
        return current
    }

    @Test func rootHelpListsTheCommands() {
        let help = Winnow.helpMessage()
        for name in ["train", "evaluate", "score", "models", "policy", "bench", "datasets"] { #expect(help.contains(name)) }
    }
}

struct DataFileReaderTests {
    func write(_ content: String, _ name: String) throws -> String {
        let dir = try Scratch.directory("data-file")
        let path = dir.appendingPathComponent(name).path
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func error(_ body: () throws -> Void) -> DataFileError? {
        do { try body() } catch let e as DataFileError { return e } catch { return nil }
        return nil
    }

    @Test func readsCSVWithQuotedNewlinesAndCountsLines() throws {
        let path = try write("id,text,label\n1,\"two\nlines, and a \"\"quote\"\"\",spam\n2,plain,clear\n", "a.csv")
        let rows = try DataFileReader().read(path)
        #expect(rows.count == 2)
        #expect(rows[0].text == "two\nlines, and a \"quote\"")
        #expect(rows[0].line == 2)
        #expect(rows[1].line == 4)
    }

    /// Outside testing: a stray quote inside a quoted field dropped the character after it ("he said "hello" there"
    /// became "ello"there), and a quoted field never closed swallowed the next row and its label, both read without a
    /// word. Both are refused naming the line; a quote inside an unquoted field is text, as spreadsheets write it.
    @Test func quotingRFC4180DoesNotAllowIsRefusedNamingTheLine() throws {
        let stray = try write("id,text,label\nr0,fine,clear\nr1,\"FREE prize he said \"hello\" there\",spam\nr2,ok,clear\n", "stray.csv")
        let e = try #require(error { _ = try DataFileReader().read(stray) })
        #expect(e.line == 3 && e.message.contains("not doubled"), "\(e)")
        let open = try write("id,text,label\nr0,hello,clear\nq1,\"WIN a FREE prize now,spam\nr2,\"ok see you later\",clear\nr3,lunch,clear\n", "open.csv")
        let unclosed = try #require(error { _ = try DataFileReader().read(open) })
        #expect(unclosed.line == 3 && unclosed.message.contains("runs on to line 4") && unclosed.message.contains("closing quote missing"), "\(unclosed)")
        let end = try write("id,text,label\nr0,hello,clear\nq1,\"WIN a FREE prize now,spam\nr3,lunch,clear\n", "end.csv")
        let never = try #require(error { _ = try DataFileReader().read(end) })
        #expect(never.line == 3 && never.message.contains("never closed"), "\(never)")
        let bare = try write("id,text,label\r\nr1,he said \"hi\" there,clear\r\nr2,\"a, \"\"b\"\"\"\r\n,spam\r\n", "bare.csv")
        let e2 = error { _ = try DataFileReader().read(bare) }
        #expect(e2 != nil)  // r2's label sits after the line end: three fields are not there
        let good = try write("id,text,label\r\nr1,he said \"hi\" there,clear\r\nr2,\"a, \"\"b\"\"\",spam\r\n", "good.csv")
        let rows = try DataFileReader().read(good)
        #expect(rows.map(\.text) == ["he said \"hi\" there", "a, \"b\""])
    }

    /// Issue 18: an empty CSV said `cannotReadHeaderRow`.
    @Test(arguments: ["", "\n  \n"]) func anEmptyCSVSaysSo(_ content: String) throws {
        let path = try write(content, "empty.csv")
        let e = try #require(error { _ = try DataFileReader().read(path) })
        #expect(e.description == "\(path): is empty. A CSV file needs the header row id,text,label and then one row per text.")
    }

    @Test func aMissingColumnIsNamed() throws {
        let path = try write("id,text\n1,hello\n", "b.csv")
        let e = try #require(error { _ = try DataFileReader().read(path) })
        #expect(e.line == 1)
        #expect(e.description == "\(path):1: missing column 'label' (the header has: id, text). The header must be id,text,label.")
    }

    @Test func anEmptyTextNamesItsLine() throws {
        let path = try write("id,text,label\n1,hello,clear\n2,  ,spam\n", "c.csv")
        let e = try #require(error { _ = try DataFileReader().read(path) })
        #expect(e.line == 3)
        #expect(e.message.contains("the text of row '2' is empty"))
    }

    @Test func invalidUTF8NamesItsLine() throws {
        let dir = try Scratch.directory("data-file")
        let path = dir.appendingPathComponent("d.csv").path
        var bytes = Array("id,text,label\n1,ok,clear\n2,bad ".utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(",spam\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let e = try #require(error { _ = try DataFileReader().read(path) })
        #expect(e.line == 3)
        #expect(e.message.contains("not valid UTF-8"))
    }

    @Test func unknownLabelsAfterMappingNameTheLine() throws {
        let path = try write("id,text,label\n1,hi,ham\n2,win,junk\n", "e.csv")
        let reader = DataFileReader(labelMap: ["ham": "clear"], allowedLabels: ["clear", "spam"])
        let e = try #require(error { _ = try reader.read(path) })
        #expect(e.line == 3)
        #expect(e.message.contains("unknown label 'junk'"))
        #expect(e.message.contains("--label-map junk=CLASS"))
    }

    @Test func jsonLinesErrorsNameTheLine() throws {
        let good = try write("{\"id\": 1, \"text\": \"hi\", \"label\": \"clear\"}\n\n{\"text\": \"win\", \"label\": \"spam\"}\n", "f.jsonl")
        let rows = try DataFileReader().read(good)
        #expect(rows.map(\.id) == ["1", "line-3"])
        let bad = try write("{\"text\": \"hi\", \"label\": \"clear\"}\n{not json}\n", "g.jsonl")
        #expect(error { _ = try DataFileReader().read(bad) }?.line == 2)
        let missing = try write("{\"label\": \"clear\"}\n", "h.jsonl")
        #expect(error { _ = try DataFileReader().read(missing) }?.message == "missing field 'text'.")
        // Outside testing: a key given twice kept the last value without a word.
        let twice = try write("{\"text\": \"hi\", \"label\": \"clear\"}\n{\"text\": \"win\", \"label\": \"clear\", \"label\": \"spam\"}\n", "d.jsonl")
        let refusal = error { _ = try DataFileReader().read(twice) }
        #expect(refusal?.line == 2 && refusal?.message == "gives 'label' twice; give each field once.", "\(String(describing: refusal))")
    }

    /// Windows line endings: "\r\n" is one Swift Character, and a file of them was read as one line (refused).
    @Test func jsonLinesWithWindowsLineEndingsAreRead() throws {
        let windows = try write("{\"id\": \"a\", \"text\": \"hi\", \"label\": \"clear\"}\r\n{\"id\": \"b\", \"text\": \"win\", \"label\": \"spam\"}\r\n", "w.jsonl")
        let rows = try DataFileReader().read(windows)
        #expect(rows.map(\.id) == ["a", "b"] && rows.map(\.label) == ["clear", "spam"])
        let bad = try write("{\"id\": \"a\", \"text\": \"hi\", \"label\": \"clear\"}\r\n{not json}\r\n", "wb.jsonl")
        #expect(error { _ = try DataFileReader().read(bad) }?.line == 2)
    }

    @Test func aMissingFileSaysSo() {
        let e = error { _ = try DataFileReader().read("/nonexistent/x.csv") }
        #expect(e?.message.contains("cannot be read") == true)
    }

    @Test func nothingCrashesOnGarbage() throws {
        for garbage in ["", "\"", "id,text,label\n\"unterminated", ",,,\n,,,", "{", "text,label\n,\n", "\u{FEFF}id,text,label\n1,x,y\n"] {
            let path = try write(garbage, "z.csv")
            _ = try? DataFileReader().read(path)
        }
    }
}

struct ScoreStreamTests {
    func parse(_ line: String) -> ScoreStream.Parsed {
        var copy = line
        return copy.withUTF8 { ScoreStream.parse($0) }
    }

    @Test func flatObjectsParseWithEscapes() {
        guard case .success(let (id, text)) = parse(#"{"id": "a\"1", "text": "caf\u00e9 \ud83d\ude02\nok", "extra": [1, {"x": "}"}]}"#) else {
            Issue.record("expected success")
            return
        }
        guard case .string(let s) = id else { Issue.record("expected a string id"); return }
        #expect(s == "a\"1")
        #expect(text == "café 😂\nok")
    }

    @Test func numericIdsStayDigitForDigit() {
        guard case .success(let (id, _)) = parse(#"{"id": 12345678901234567890, "text": "x"}"#), case .number(let r) = id else {
            Issue.record("expected a number id")
            return
        }
        #expect(r == "12345678901234567890")
    }

    /// The fast reader takes the common line; a repeated key goes to the strict parser, which refuses it by name.
    @Test func aRepeatedKeyIsRefusedAndAnExponentIdKeptAsWritten() {
        guard case .failure(let repeated) = parse(#"{"id": "a", "id": "b", "text": "x"}"#) else { Issue.record("expected failure"); return }
        #expect(repeated.contains("'id'"), "\(repeated)")
        guard case .success(let (id, text)) = parse(#" {"text": "x", "id": 1e3} "#), case .number(let n) = id else {
            Issue.record("expected a number id")
            return
        }
        #expect(n == "1e3" && text == "x")
    }

    @Test func badLinesExplainThemselves() {
        guard case .failure(let m1) = parse("not json") else { Issue.record("expected failure"); return }
        #expect(m1.hasPrefix("not JSON (") && m1.contains("byte"), "\(m1)")
        guard case .failure(let m0) = parse("[1]") else { Issue.record("expected failure"); return }
        #expect(m0.hasPrefix("not a JSON object but an array"))
        guard case .failure(let m2) = parse(#"{"id": 1}"#) else { Issue.record("expected failure"); return }
        #expect(m2 == "missing field 'text'")
        guard case .failure(let m3) = parse(#"{"text": 5}"#) else { Issue.record("expected failure"); return }
        #expect(m3 == "field 'text' must be a string, not a number")
    }

    /// Each answer through the API's writer: numbers to 6 decimals, the id as given (a number digit for digit), and
    /// the line number when the line had no id (issue 18: such answers could not be matched to their lines).
    @Test func answersCarryTheirIdOrTheirLineAndRoundedNumbers() throws {
        let p = Prediction(label: "spam", labelIndex: 1, probabilities: [0.1234567, 0.8765433],
                           evidence: Evidence(score: 2.5, knownFeatures: 3, features: 4, thin: false),
                           reasons: [Reason(label: "spam", feature: "free", kind: .word, contribution: 0.0000004)])
        func answer(_ id: ScoreStream.ID) -> String {
            var w = JSONWriter()
            ScoreStream.write(p, id: id, line: 7, classes: ["ham", "spam"], into: &w)
            return w.string
        }
        #expect(answer(.string("a")) == #"{"id":"a","evidence":2.5,"label":"spam","probabilities":{"ham":0.123457,"spam":0.876543},"reasons":[{"contribution":0,"feature":"free","kind":"word"}],"thinEvidence":false}"#)
        #expect(answer(.number("12345678901234567890")).hasPrefix(#"{"id":12345678901234567890,"evidence""#))
        #expect(answer(.none).hasPrefix(#"{"line":7,"evidence""#))
    }
}

struct DataFileFuzzTests {
    /// Random bytes shaped like CSV and JSON Lines: every read either returns rows or throws a
    /// `DataFileError`, never crashes.
    @Test(arguments: ["csv", "jsonl"])
    func randomFilesNeverCrash(_ ext: String) throws {
        let dir = try Scratch.directory("fuzz")
        let alphabet = Array("id,text,label\n\r\"{}:[] \\ué😂\u{0}\u{FEFF}ab1".utf8) + [0xC3, 0xFF, 0x80]
        var state: UInt64 = 99
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            return z ^ (z >> 27)
        }
        let header = ext == "csv" ? Array("id,text,label\n".utf8) : []
        for round in 0..<300 {
            var bytes = round % 2 == 0 ? header : []
            for _ in 0..<Int(next() % 200) { bytes.append(alphabet[Int(next() % UInt64(alphabet.count))]) }
            let path = dir.appendingPathComponent("f\(round).\(ext)").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let rows = try DataFileReader().read(path)
                #expect(rows.allSatisfy { !$0.label.isEmpty && $0.line >= 1 })
            } catch is DataFileError {
            }
        }
    }
}

/// Issue 18: help examples wrapped mid-command at 80 columns (`--report\nreport.html`), which broke copy and paste.
struct HelpTextTests {
    static func commands(_ root: any ParsableCommand.Type) -> [any ParsableCommand.Type] {
        [root] + root.configuration.subcommands.flatMap { commands($0) }
    }

    @Test func everyExampleCommandFitsOneLineOfEightyColumns() {
        var checked = 0
        for command in Self.commands(Winnow.self) {
            let help = Winnow.helpMessage(for: command, columns: 80)
            let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
            for (i, line) in lines.enumerated() where line.trimmingCharacters(in: .whitespaces).hasPrefix("winnow ")
                || line.contains(" | winnow ") || line.trimmingCharacters(in: .whitespaces).hasPrefix("printf ") {
                checked += 1
                // ArgumentParser wraps a long line at 80 columns and continues it at the margin.
                let next = i + 1 < lines.count ? lines[i + 1] : ""
                let continued = !next.isEmpty && !next.hasPrefix(" ") && !next.hasSuffix(":") && next.uppercased() != next
                #expect(line.count <= 80 && !continued, "\(command._commandName): '\(line)' / '\(next)'")
            }
        }
        #expect(checked > 40)
    }
}

/// Issue 18: the simulation report's axis labels were rounded so that points read wrong (ticks at 0.0125, 0.025 and
/// 0.0375 labelled 0.01, 0.03, 0.04), and legends sat on top of data.
struct ChartTests {
    @Test func everyTickLabelReadsAsItsValue() {
        let labels = HTMLReport.ticks(from: 0, to: 0.05).map(\.label)
        #expect(labels == ["0.00", "0.02", "0.04"])
        for (low, high) in [(0.0, 0.05), (0.0, 1.0), (0.0, 2.5), (0.0, 250.0), (0.6, 1.0), (0.3, 1.0), (0.0, 0.001), (0.0, 37.0)] {
            let ticks = HTMLReport.ticks(from: low, to: high)
            #expect(ticks.count >= 3 && ticks.count <= 6, "\(low)…\(high): \(ticks.map(\.label))")
            for tick in ticks {
                #expect(abs((Double(tick.label) ?? .nan) - tick.value) < 1e-9, "\(low)…\(high): \(tick.label) for \(tick.value)")
                #expect(tick.value >= low - 1e-12 && tick.value <= high + 1e-12)
            }
        }
    }

    @Test func legendsSitUnderThePlot() throws {
        let plot = HTMLReport.Plot(legendRows: 2)
        let legend = HTMLReport.legend([("a", "#000"), ("b", "#111")], plot: plot)
        let ys = legend.matches(of: /<text x="[0-9.]+" y="([0-9.]+)"/).map { Double($0.1)! }
        #expect(ys.count == 2)
        #expect(ys.allSatisfy { $0 > plot.height && $0 <= plot.height + plot.legendHeight })
        #expect(plot.frame(xLabel: "x", yLabel: "y").contains("height=\"\(Int(plot.height + plot.legendHeight))\""))
        // The y axis's title sits above the plot, clear of the tick labels left of it (they overlapped).
        let frame = plot.frame(xLabel: "x", yLabel: "tickets per 1,000 posts", xTicks: [], yTicks: [(0, "1000.0125")])
        let title = try #require(frame.firstMatch(of: /<text x="([0-9.]+)" y="([0-9.]+)" text-anchor="start">tickets per 1,000 posts</))
        #expect(Double(title.2)! < plot.y(1) && Double(title.1)! == plot.x(0))
    }

    /// Each class's precision in the threshold sweep has its own colour: recall and review share use none of them.
    @Test func aSweepsLinesNeverShareAColour() throws {
        for (i, color) in HTMLReport.palette.enumerated() {
            let sweep = ClassSweep(label: "class \(i)", points: [])
            let svg = HTMLReport.thresholdSweep(sweep, color: color)
            let strokes = svg.matches(of: /<polyline fill="none" stroke="(#[0-9a-f]+)"/).map { String($0.1) }
            #expect(strokes.count == 3 && Set(strokes).count == 3, "\(strokes)")
        }
    }
}
