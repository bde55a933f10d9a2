import ArgumentParser
import Engine
import Foundation
import Testing

@testable import WinnowCLI

@Suite struct ReviewCommandTests {
    @Test(arguments: ["serve", "keys create", "keys list", "keys revoke", "rescore", "review", "review loop", "review next", "review decide",
                      "review release", "review escalate", "queue stats", "stats", "labels export", "labels import", "models list", "models register", "models promote", "models rollback", "retrain"])
    func everyServerCommandHasHelpWithAnExample(_ path: String) throws {
        let names = path.split(separator: " ").map(String.init)
        let help = Winnow.helpMessage(for: try #require(ParsingTests.command(names)))
        #expect(help.contains("USAGE: winnow \(path)"))
        #expect(help.contains("winnow \(names[0])"))
    }

    @Test func rootHelpListsTheModeratorCommands() {
        let help = Winnow.helpMessage()
        for name in ["review", "queue", "stats", "labels", "serve", "keys", "rescore"] { #expect(help.contains(name)) }
    }

    @Test func decideParsesItsOptions() throws {
        let command = try Winnow.parseAsRoot(["review", "decide", "42", "--label", "spam", "--reason", "scam", "--note", "link farm", "--version", "3",
                                              "--action", "demote", "--json", "--url", "http://h:1", "--key", "wnw_x"])
        let decide = try #require(command as? ReviewDecide)
        #expect(decide.ticket == 42 && decide.label == "spam" && decide.reasonCode == "scam" && decide.note == "link farm")
        #expect(decide.version == 3 && decide.action == "demote" && decide.json)
        #expect(decide.server.url == "http://h:1" && decide.server.key == "wnw_x")
        #expect(throws: (any Error).self) { try Winnow.parseAsRoot(["review", "decide", "42", "--reason", "scam"]) }
        // --ticket-version is the option's name now (the help listed --version twice: the option and the program's flag).
        let named = try #require(try Winnow.parseAsRoot(["review", "decide", "42", "--label", "spam", "--reason", "scam", "--ticket-version", "5"]) as? ReviewDecide)
        #expect(named.version == 5)
        let help = Winnow.helpMessage(for: ReviewDecide.self)
        #expect(help.components(separatedBy: "--version").count == 2 && help.contains("--ticket-version <ticket-version>"), "\(help)")
        #expect(throws: (any Error).self) { try Winnow.parseAsRoot(["review", "decide", "x", "--label", "spam", "--reason", "scam"]) }
    }

    @Test func reviewWithoutASubcommandIsTheLoopWithRouting() throws {
        let command = try Winnow.parseAsRoot(["review", "--languages", "en, pt", "--skills", "spam-expert", "--tier", "1", "--tier", "2", "--no-color"])
        let loop = try #require(command as? ReviewLoop)
        #expect(loop.routing.languageList == ["en", "pt"])
        #expect(loop.routing.skillList == ["spam-expert"])
        #expect(loop.routing.tiers == [1, 2])
        #expect(loop.noColor)
        // No --tier: the claim names none and the server takes the key's default (tier 1, or 2 for a key of 2 only).
        #expect(try #require(Winnow.parseAsRoot(["review"]) as? ReviewLoop).routing.tiers == [])
        #expect(throws: (any Error).self) { try Winnow.parseAsRoot(["review", "--tier", "3"]) }
        #expect(try Winnow.parseAsRoot(["queue", "stats", "--json"]) is QueueStats)
        #expect(try Winnow.parseAsRoot(["review", "release", "7"]) is ReviewRelease)
        #expect(try Winnow.parseAsRoot(["review", "escalate", "7", "--note", "why"]) is ReviewEscalate)
    }

    @Test func theServerAndKeyComeFromFlagsThenEnvironmentThenTheConfigFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-client-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("cli.json").path
        try #"{"url": "http://file:3", "key": "wnw_file"}"#.write(toFile: file, atomically: true, encoding: .utf8)

        let fromFile = try ClientOptions.parse(["--client-config", file]).client(environment: [:])
        #expect(fromFile.base.absoluteString == "http://file:3" && fromFile.key == "wnw_file")
        let fromEnvironment = try ClientOptions.parse(["--client-config", file]).client(environment: ["WINNOW_URL": "http://env:2", "WINNOW_KEY": "wnw_env"])
        #expect(fromEnvironment.base.absoluteString == "http://env:2" && fromEnvironment.key == "wnw_env")
        let fromFlags = try ClientOptions.parse(["--client-config", file, "--url", "http://flag:1", "--key", "wnw_flag"])
            .client(environment: ["WINNOW_URL": "http://env:2", "WINNOW_KEY": "wnw_env"])
        #expect(fromFlags.base.absoluteString == "http://flag:1" && fromFlags.key == "wnw_flag")
        let home = try ClientOptions.parse([]).client(environment: ["HOME": "/nonexistent", "WINNOW_KEY": "k"])
        #expect(home.base.absoluteString == "http://127.0.0.1:8080")

        #expect(throws: CommandError.self) { try ClientOptions.parse([]).client(environment: ["HOME": "/nonexistent"]) }
        do {
            _ = try ClientOptions.parse([]).client(environment: ["HOME": "/nonexistent"])
        } catch let error as CommandError {
            #expect(error.description.contains("WINNOW_KEY"))
        }
        #expect(throws: CommandError.self) { try ClientOptions.parse(["--url", "ftp://x", "--key", "k"]).client(environment: [:]) }
        #expect(throws: CommandError.self) { try ClientOptions.parse(["--client-config", dir.path + "/missing.json", "--key", "k"]).client(environment: [:]) }
        try "not json".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: CommandError.self) { try ClientOptions.parse(["--client-config", file]).client(environment: [:]) }
        // Read strictly: a misspelt key or a number for the URL is named (they were passed over, and the default
        // server, or "no key", followed).
        for (json, words) in [(#"{"url": "http://file:3", "kee": "wnw_x"}"#, "'kee' is not a field here; did you mean 'key'?"),
                              (#"{"url": 5, "key": "wnw_x"}"#, "'url' must be a string, not a number.")] {
            try json.write(toFile: file, atomically: true, encoding: .utf8)
            do {
                _ = try ClientOptions.parse(["--client-config", file]).client(environment: [:])
                Issue.record("expected \(json) to be refused")
            } catch let error as CommandError {
                #expect(error.description.hasPrefix("The client config \(file) is not valid: \(words)") && error.code == 65, "\(error.description)")
            }
        }
    }

    @Test(arguments: [
        ("plain text", "plain text"),
        ("\u{1B}[2J\u{1B}]0;pwned\u{07}", "^[[2J^[]0;pwned^G"),
        ("line\rover", "line^Mover"),
        ("tab\there", "tab^Ihere"),
        ("del\u{7F}", "del^?"),
        ("c1\u{9B}31m", "c1<U+009B>31m"),
        ("evil\u{202E}txt.exe", "evil<U+202E>txt.exe"),
        ("zero\u{200B}width", "zero<U+200B>width"),
        ("two\nlines", "two^Jlines"),
        ("naïve café 🙂", "naïve café 🙂"),
    ])
    func controlAndEscapeCharactersAreMadeVisible(_ text: String, _ shown: String) {
        #expect(Terminal.visible(text) == shown)
    }

    @Test func wrappingKeepsLinesWithinTheWidth() {
        #expect(Terminal.visible("a\nb", keepNewlines: true) == "a\nb")
        let lines = Terminal.wrap("the quick brown fox jumps over the lazy dog " + String(repeating: "x", count: 25), width: 10)
        #expect(lines.allSatisfy { $0.count <= 10 })
        #expect(lines.joined(separator: " ").replacingOccurrences(of: " ", with: "").count == 35 + 25)
        #expect(Terminal.fit("abcdef", 4) == "abc…")
    }

    /// Wide characters take two columns and combining marks none: a line of emoji or Chinese is wrapped and cut by
    /// the columns it takes, not by its characters.
    @Test func wideCharactersCountTheirColumns() {
        #expect(Terminal.columns("🔥🔥🔥 you") == 10)
        #expect(Terminal.columns("端的换行") == 8)
        #expect(Terminal.columns("e\u{301}té") == 3)
        #expect(Terminal.fit("端的换行", 5) == "端的…")
        let lines = Terminal.wrap("端的换行和端的换行和 🔥🔥🔥 you are such a loser", width: 7)
        #expect(lines.allSatisfy { Terminal.columns($0) <= 7 }, "\(lines)")
        #expect(lines.joined().replacingOccurrences(of: " ", with: "") == "端的换行和端的换行和🔥🔥🔥youaresuchaloser", "\(lines)")
        // A message wider than the terminal is broken at spaces, its colour on each part.
        let terminal = Terminal(colour: true, size: (40, 24))
        terminal.line(terminal.styled("Your lease on ticket 99 expired; someone else may have it now. Claim the next ticket.", .red))
        let message = "Your lease on ticket 99 expired; someone else may have it now. Claim the next ticket."
        #expect(Terminal.wrap(message, width: 40) == ["Your lease on ticket 99 expired; someone", "else may have it now. Claim the next", "ticket."])
    }

    static func card(blind: Bool, text: String, classes: [String] = ["clear", "offensive", "spam"], reasons: [String] = ["review_band", "reports", "escalation"],
                     wave: Int = 0, stage: String = "creation", decision: (action: String, reason: String) = ("review", "spam 0.700 ≥ review cut-off")) throws -> ReviewCard {
        let scores = blind ? "" : """
            "scores": {"stage": "\(stage)", "probabilities": {"clear": 0.3, "spam": 0.7}, "label": "spam", "evidence": 1,
                       "decision": {"action": "\(decision.action)", "reason": "\(decision.reason)"},
                       "reasons": [{"label": "spam", "feature": "free", "contribution": 1.25, "kind": "word"}]},
            """
        let history = (0..<9).map { i in
            #"{"kind": "ticket", "ticket": {"ticket": 7, "kind": "claimed", "at": "2026-11-26T07:0\#(i):00Z", "by": "moderator-with-a-rather-long-name-\#(i)"}}"#
        }.joined(separator: ",")
        let json = """
            {"ticket": {"id": 7, "feed": "default", "itemId": "a", "tier": 2, "reasons": \(String(decoding: try JSONSerialization.data(withJSONObject: reasons), as: UTF8.self)), "status": "open",
                        "openedAt": "2026-11-26T07:00:00Z", "dueAt": "2026-11-26T11:00:00Z", "slaSecondsLeft": -75, "priority": 3.5, "version": 4,
                        "note": "check the link", "blind": \(blind)},
             "item": {"id": "a", "feed": "default", "text": \(String(decoding: try JSONSerialization.data(withJSONObject: [text]), as: UTF8.self).dropFirst().dropLast()),
                      "language": "en", "author": {"id": "u1", "accountAgeDays": 3, "followers": 10, "priorRemovals": 1},
                      "createdAt": "2026-11-26T07:00:00Z", "receivedAt": "2026-11-26T07:00:00Z"},
             "engagement": {"at": "2026-11-26T07:30:00Z", "counters": {"views": 120, "likes": 3, "shares": 1, "comments": 0, "reports": 4, "hides": 0}},
             \(scores)
             "history": [\(history)],
             "classes": \(String(decoding: try JSONSerialization.data(withJSONObject: classes), as: UTF8.self)), "reasonCodes": ["not_violating", "spam", "other"],
             "suggestedReasonCodes": {"clear": "not_violating", "offensive": "other", "spam": "spam"}
             \(wave > 0 ? #", "wave": {"copies": \#(wave), "tickets": \#((0..<wave).map { 100 + $0 })}"# : "")}
            """
        return try WinnowClient.decoder.decode(ReviewCard.self, from: Data(json.utf8))
    }

    /// Every line of the screen, the key lines and the prompt ("> ") included, as the session prints them.
    static func screen(_ card: ReviewCard, note: String?, settlesWave: Bool = false, size: (columns: Int, rows: Int) = (80, 24)) -> [String] {
        let terminal = Terminal(colour: false, size: size)
        let keys = ReviewScreen.keys(card, terminal: terminal)
        return ReviewScreen.card(card, note: note, settlesWave: settlesWave, terminal: terminal, keyLines: keys.count) + keys + ["> "]
    }

    static let fourClasses = ["clear", "hate_speech", "offensive_language", "spam"]
    static let nineClasses = (1...9).map { "class-number-\($0)" }

    /// Issue 18: on the Davidson model's four classes the key bar was 83 columns and wrapped, and the policy line was
    /// cut ("review at c…"). Every line of the screen fits 80 columns, all of them 24 lines, with any number of classes.
    /// With a wave (issue 21) the screen still fits: its line takes one of the text's.
    @Test(arguments: [(false, 0, 0), (true, 0, 0), (false, 1, 0), (false, 2, 0), (false, 1, 12), (false, 2, 1)])
    func aTicketFitsEightyByTwentyFour(blind: Bool, classSet: Int, wave: Int) throws {
        let long = (1...30).map { "line \($0) of a long post with words enough to wrap around the edge of the terminal window" }.joined(separator: "\n")
        let classes = [["clear", "offensive", "spam"], Self.fourClasses, Self.nineClasses][classSet]
        let card = try Self.card(blind: blind, text: long + "\u{1B}[31m", classes: classes, wave: wave)
        let lines = Self.screen(card, note: "my note")
        if wave > 0 {
            let copies = wave == 1 ? "1 copy of this item waits" : "\(wave) copies of this item wait"
            #expect(lines.contains("Wave: \(copies) in the queue · w: decide \(wave == 1 ? "it" : "them") with this one"), "\(lines)")
            #expect(lines.joined().contains("w wave"))
            let settling = Self.screen(card, note: "my note", settlesWave: true)
            #expect(settling.count == lines.count)
            #expect(settling.contains("Wave: your decision settles this ticket and its \(wave == 1 ? "1 copy" : "\(wave) copies") · w: this one only"))
        } else {
            #expect(!lines.joined().contains("Wave") && !lines.joined().contains("w wave"))
        }
        #expect(lines.count <= 24, "\(lines.count) lines")
        for line in lines { #expect(line.count <= 80, "\(line.count) columns: \(line)") }
        let screen = lines.joined(separator: "\n")
        #expect(!screen.contains("\u{1B}"))
        #expect(screen.contains("SLA overdue by 1m 15s"))
        #expect(screen.contains("Escalation note: check the link"))
        #expect(screen.contains("Your note: my note"))
        #expect(screen.contains("120 views"))
        #expect(screen.contains("more lines"))
        #expect(screen.contains("History (4 latest of 9)"))
        #expect(screen.contains("Blind audit") == blind)
        #expect(screen.contains("spam 0.70") == !blind)
        #expect(screen.contains("Policy: review at creation") == !blind)
        for (i, label) in classes.enumerated() { #expect(screen.contains("\(i + 1) \(label)")) }
        #expect(screen.contains("q quit"))
    }

    /// Outside testing: after an undo the card read "Policy: review at review". A decision made at a person's step
    /// says which step (its reason's first clause); the automatic stages say where the policy decided.
    @Test(arguments: [
        ("review", "review", "decision taken back by its reviewer; the policy decides again: spam 0.700 ≥ review cut-off 0.700", "Now: review, decision taken back by its reviewer ·"),
        ("review", "remove", "decided by a reviewer (tier 1, spam)", "Now: remove, decided by a reviewer (tier 1, spam) ·"),
        ("engagement", "review", "spam 0.700 ≥ review cut-off", "Policy: review on engagement ·"),
        ("time", "demote", "spam 0.700 ≥ demote cut-off", "Policy: demote at a scheduled rescore ·"),
    ])
    func theDecisionLineSaysWhereTheDecisionWasMade(stage: String, action: String, reason: String, expected: String) throws {
        let card = try Self.card(blind: false, text: "hello", stage: stage, decision: (action, reason))
        let line = Self.screen(card, note: nil).first { $0.hasPrefix("Policy: ") || $0.hasPrefix("Now: ") }
        #expect(line?.hasPrefix(expected) == true, "\(line ?? "no decision line")")
        #expect(line?.contains("at review") == false)
    }

    /// The desk is laid out for the terminal's size: every line within its width and the whole screen within its
    /// height, a taller terminal showing more of the text, a shorter one less of it and of the history.
    @Test(arguments: [(60, 20), (100, 40), (40, 24), (160, 60)])
    func aTicketFitsTheTerminalItIsShownOn(columns: Int, rows: Int) throws {
        let long = (1...60).map { "line \($0) of a long post with words enough to wrap around the edge of the terminal window" }.joined(separator: "\n")
        for classes in [["clear", "offensive", "spam"], Self.fourClasses] {
            let card = try Self.card(blind: false, text: long, classes: classes, wave: 2)
            let lines = Self.screen(card, note: "my note", size: (columns, rows))
            #expect(lines.count <= rows, "\(lines.count) lines at \(columns)×\(rows): \(lines.joined(separator: "\n"))")
            for line in lines { #expect(line.count <= columns, "\(line.count) columns at \(columns)×\(rows): \(line)") }
            let text = lines.filter { $0.hasPrefix("line ") || $0.hasPrefix("of a long") || $0.hasPrefix("words") || $0.hasPrefix("wrap") || $0.hasPrefix("edge") }
            let standard = Self.screen(card, note: "my note").filter { $0.hasPrefix("line ") }
            if rows > 24 { #expect(text.count > standard.count, "\(text.count) text lines at \(columns)×\(rows)") }
            #expect(lines.joined().contains("History ("))
            #expect(lines.joined().contains("q quit"))
        }
    }

    /// Issue 18: the reason-code line was 90 columns. The codes wrap, and each prompt with what is typed after it fits.
    @Test func theReasonAndActionPromptsFitEightyColumns() throws {
        var card = try Self.card(blind: false, text: "hello")
        card.reasonCodes = (1...12).map { "a-rather-long-reason-code-number-\($0)" }
        card.suggestedReasonCodes["spam"] = card.reasonCodes[11]
        let (lines, prompt, codes, _) = ReviewScreen.reasonChoice(card, label: "spam", width: 80)
        #expect(codes.count == 12)
        for line in lines { #expect(line.count <= 80, "\(line)") }
        #expect(prompt.count + codes.map(\.count).max()! <= 80, "\(prompt)")
        #expect((ReviewScreen.actionPrompt(standard: "remove") + "remove").count <= 80)
    }

    /// An escalation's note is read whole: wrapped on the card (three lines at most there, t shows the rest), all of
    /// it from `winnow review next`.
    @Test func aLongEscalationNoteIsWrappedNotCut() throws {
        var card = try Self.card(blind: false, text: "hello", reasons: ["escalation"])
        card.ticket.note = (1...12).map { "reason \($0) why a senior should look" }.joined(separator: ", ")
        let lines = Self.screen(card, note: nil)
        let note = lines.filter { $0.hasPrefix("Escalation note:") || $0.hasPrefix("reason") || $0.contains("why a senior") }
        #expect(note.count == 3 && note.last?.hasSuffix("… (t: all of it)") == true, "\(note)")
        #expect(lines.count <= 24 && lines.allSatisfy { $0.count <= 80 })
        let terminal = Terminal(colour: false, size: (80, 24))
        let printed = ReviewScreen.card(card, note: nil, interactive: false, terminal: terminal).joined(separator: " ")
        #expect(printed.contains("reason 12 why a senior should look"))
    }

    /// Issue 18: an appeal's note was shown as "Escalation note", and a ticket opened by users' reports said only
    /// "Engagement: none reported yet".
    @Test func anAppealsNoteIsCalledSoAndAReportTicketSaysWhatBroughtIt() throws {
        var card = try Self.card(blind: false, text: "hello", reasons: ["appeal"])
        #expect(Self.screen(card, note: nil).contains("Appeal note: check the link"))
        card = try Self.card(blind: false, text: "hello", reasons: ["reports"])
        card.engagement = nil
        card.pendingReports = 4
        #expect(Self.screen(card, note: nil).contains("Engagement: none reported by the feed · 4 user reports to judge"))
    }

    @Test func errorsSayWhatAModeratorShouldDo() {
        #expect(ClientError.unreachable(url: "http://127.0.0.1:1", reason: "refused").description.contains("Cannot reach the Winnow server at http://127.0.0.1:1"))
        #expect(ClientError.unauthorized(url: "http://x").description.contains("refused the key"))
        // The server's own words, with the command instead of the API's route (outside testing: a moderator was told
        // to POST /v1/review/claim).
        #expect(ClientError.leaseLost(message: "Ticket 4 is not claimed by you. Claim it first with POST /v1/review/claim.").description
                == "Ticket 4 is not claimed by you. Claim it first: winnow review next (or r in winnow review).")
    }

    @Test func onlyPrintableASCIIKeysCanChooseALabel() throws {
        let pipe = Pipe()
        // "²" in UTF-8 (a digit to Unicode), a stray escape, then a real key.
        pipe.fileHandleForWriting.write(Data([0xC2, 0xB2, 0x1B, UInt8(ascii: "2")]))
        try pipe.fileHandleForWriting.close()
        let terminal = Terminal(input: pipe.fileHandleForReading.fileDescriptor, colour: false)
        #expect(terminal.readKey() == "\u{FFFD}")
        #expect(terminal.readKey() == "\u{FFFD}")
        #expect(terminal.readKey() == "\u{1B}")
        #expect(terminal.readKey() == "2")
        #expect(terminal.readKey() == nil)
    }
}

@Suite struct StatsTableTests {
    @Test func theTableSaysWhetherHarmSharesWereCorrectedForReviewerError() {
        let precision = Estimate(value: 0.9, low: 0.8, high: 0.95, audits: 40, effectiveAudits: 40)
        var audits = AuditEstimates(removalPrecision: precision, missedHarm: nil, prevalenceShown: nil, recall: [:], audits: 40)
        var table = Stats.table(audits)
        #expect(table.contains("precision of removals              0.900  [0.800, 0.950]  40 audits"))
        #expect(table.contains("harmful among allowed (missed)     -  (no audits yet)"))
        #expect(table.contains("fewer than 20 double reviews"))
        audits.reviewerError = ReviewerError(rate: 0.05, low: 0.031, high: 0.078, pairs: 120, agreement: 0.90375)
        table = Stats.table(audits)
        #expect(table.contains("corrected for a reviewer error of 0.050 [0.031, 0.078] (agreement 0.904 in 120 double reviews)"))
    }
}
