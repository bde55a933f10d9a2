import Foundation
import Testing

/// The moderator's commands against `winnow serve` as a real process on a free port.
@Suite(.serialized) struct ReviewEndToEndTests {
    struct Setup {
        var server: ServeEndToEndTests.Server
        let database: String
        let admin: String
        let feed: String
        let moderator: String
        var url: String { "http://127.0.0.1:\(server.port)" }

        func cli(_ arguments: [String], as key: String? = nil, stdin: String? = nil) throws -> EndToEndTests.Result {
            try EndToEndTests.run(arguments + ["--url", url, "--key", key ?? moderator], stdin: stdin)
        }
    }

    /// A server whose default feed sends every item to review, with `count` items submitted.
    static func setUp(items count: Int, arguments: [String] = []) async throws -> Setup {
        let dir = try EndToEndTests.folder()
        let database = dir + "/review.sqlite"
        var keys: [String] = []
        for (role, name) in [("admin", "root"), ("feed", "news"), ("moderator", "ann")] {
            let created = try EndToEndTests.run(["keys", "create", "--role", role, "--name", name, "--database", database])
            #expect(created.status == 0, "\(created.stderr)")
            keys.append(created.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let server = try ServeEndToEndTests.Server(database: database, arguments: arguments)
        let setup = Setup(server: server, database: database, admin: keys[0], feed: keys[1], moderator: keys[2])
        let (_, standard) = try await server.request("GET", "/v1/policies/default", key: setup.admin)
        let classes = ((standard["policy"] as? [String: Any])?["rules"] as? [String: Any] ?? [:]).keys
        var rules: [String: Any] = [:]
        for label in classes { rules[label] = ["review": 0] }
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["rules": rules]), as: UTF8.self)
        #expect(try await server.request("PUT", "/v1/policies/default", key: setup.admin, body: body).0 == 200)
        for i in 0..<count {
            let item = #"{"id": "p\#(i)", "text": "WIN a free prize now, call 0906 \#(i) \u001b[31m", "language": "en", "author": {"id": "u\#(i)", "followers": \#(i * 100)}}"#
            #expect(try await server.request("POST", "/v1/items", key: setup.feed, body: item).0 == 201)
        }
        return setup
    }

    func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func scriptableCommandsClaimDecideAndRelease() async throws {
        let s = try await Self.setUp(items: 3)
        defer { s.server.kill9() }
        let stats = try s.cli(["queue", "stats", "--json"])
        #expect(stats.status == 0, "\(stats.stderr)")
        #expect(json(stats.stdout)["open"] as? Int == 3)

        let next = try s.cli(["review", "next", "--json"])
        #expect(next.status == 0, "\(next.stderr)")
        let ticket = json(next.stdout)["ticket"] as? [String: Any] ?? [:]
        let id = try #require(ticket["id"] as? Int)
        #expect((json(next.stdout)["item"] as? [String: Any])?["text"] as? String == "WIN a free prize now, call 0906 2 \u{1B}[31m")

        let decided = try s.cli(["review", "decide", "\(id)", "--label", "spam", "--reason", "scam", "--note", "prize scam", "--json"])
        #expect(decided.status == 0, "\(decided.stderr)")
        #expect(json(decided.stdout)["action"] as? String == "remove")
        let again = try s.cli(["review", "decide", "\(id)", "--label", "spam", "--reason", "scam"])
        #expect(again.status != 0)
        #expect(again.stderr.contains("is already decided"))
        // Every label row, with the stored item's text (--all left it empty).
        let all = try EndToEndTests.run(["labels", "export", "--all", "--format", "jsonl", "--database", s.database])
        let rows = all.stdout.split(separator: "\n").compactMap { json(String($0)) }
        #expect(rows.count == 1 && (rows.first?["text"] as? String)?.hasPrefix("WIN a free prize now") == true, "\(all.stdout)\(all.stderr)")
        let badLabel = try s.cli(["review", "next"])
        #expect(badLabel.status == 0 && badLabel.stdout.contains("Ticket "))
        #expect(!badLabel.stdout.contains("\u{1B}"))  // the escape in the text is shown, not sent
        #expect(badLabel.stdout.contains("^[[31m"))
        let held = try #require(badLabel.stdout.split(separator: " ").dropFirst().first.flatMap { Int($0) })
        let refused = try s.cli(["review", "decide", "\(held)", "--label", "ham", "--reason", "spam"])
        #expect(refused.stderr.contains("field label"))
        #expect(try s.cli(["review", "release", "\(held)"]).status == 0)
        // Not held by the caller: the server's words, without the interactive loop's keys (issue 18: a script printed
        // "press n for the next ticket").
        let other = try s.cli(["review", "decide", "\(held)", "--label", "spam", "--reason", "spam"], as: s.admin)
        #expect(other.status != 0 && other.stderr.contains("Ticket \(held) is not claimed by you"), "\(other.stderr)")
        #expect(!other.stderr.contains("press n"))

        let item = try await s.server.request("GET", "/v1/items/p2", key: s.admin).1  // who decided: the admin reads it, a feed does not
        #expect((item["current"] as? [String: Any])?["stage"] as? String == "review")
        let events = (item["history"] as? [[String: Any]] ?? []).compactMap { $0["ticket"] as? [String: Any] }
        #expect(events.last?["kind"] as? String == "decided" && events.last?["by"] as? String == "ann")

        let table = try s.cli(["queue", "stats"])
        #expect(table.stdout.contains("Open tickets    2"))
        #expect(!table.stdout.contains("ann"))  // the reviewers' figures are the admins'
        #expect(try s.cli(["queue", "stats"], as: s.admin).stdout.contains("ann"))

        let wrongKey = try s.cli(["queue", "stats"], as: "wnw_wrong")
        #expect(wrongKey.status != 0 && wrongKey.stderr.contains("refused the key"))
        let unreachable = try EndToEndTests.run(["review", "next", "--url", "http://127.0.0.1:1", "--key", s.moderator])
        #expect(unreachable.status != 0 && unreachable.stderr.contains("Cannot reach the Winnow server at http://127.0.0.1:1"))
    }

    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func theInteractiveLoopDecidesThreeTicketsFromScriptedKeys() async throws {
        let s = try await Self.setUp(items: 5)
        defer { s.server.kill9() }
        let next = try s.cli(["review", "next", "--json"])
        let classes = json(next.stdout)["classes"] as? [String] ?? []
        let clear = try #require(classes.firstIndex(of: "clear")) + 1
        let spam = try #require(classes.firstIndex(of: "spam")) + 1
        #expect(try s.cli(["review", "release", "\((json(next.stdout)["ticket"] as? [String: Any])?["id"] as? Int ?? 0)"]).status == 0)
        // Skip one, note and clear one (suggested code, default action), decide spam with reason b and the action demote,
        // take that back with u (the ticket on screen goes back to the queue) and decide it again with the default
        // action, escalate one, decide one with the suggested code and the default action, quit.
        // A note kept with n before escalating goes with the escalation's (it was lost).
        let keys = "s\nn\na birthday message\n\(clear)\n\n\(spam)bdu\(spam)b\nn\nchecked the sender\ne\nneeds tier 2\n\(spam)\n\nq"
        let run = try s.cli(["review", "--no-color"], stdin: keys)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("Decided 3 tickets. Bye."), "\(run.stdout)")
        #expect(run.stdout.contains("Skipped ticket"))
        #expect(run.stdout.contains("Escalated ticket"))
        // The confirmation says what happened to the item (issue 18).
        #expect(run.stdout.contains(": clear, allowed (not_violating)."))
        #expect(run.stdout.contains(": spam, demoted (spam)."))
        #expect(run.stdout.contains("↶ Took back your decision on ticket"))
        #expect(run.stdout.components(separatedBy: ": spam, removed (spam).").count == 3)  // the one taken back, and the last
        #expect(!run.stdout.contains("\u{1B}"))
        let stats = json(try s.cli(["queue", "stats", "--json"], as: s.admin).stdout)
        #expect(stats["open"] as? Int == 2)   // the skipped one and the escalated one
        #expect(stats["claimed"] as? Int == 0)  // quitting released what the loop held
        #expect(stats["byTier"] as? [String: Int] == ["tier1": 1, "tier2": 1])
        let reviewers = stats["reviewers"] as? [[String: Any]] ?? []
        #expect(reviewers.first?["decisionsLastHour"] as? Int == 3)
        // The tier-2 queue is a senior's (or an admin's) to read; ann's key works tier 1.
        #expect(try await s.server.request("GET", "/v1/review/queue?tier=2", key: s.moderator).0 == 403)
        let noted = try await s.server.request("GET", "/v1/review/queue?tier=2", key: s.admin).1
        #expect(((noted["tickets"] as? [[String: Any]])?.first?["note"] as? String) == "checked the sender — needs tier 2")
    }

    /// A long text's end can be what matters (padding hides it): the card shows its first lines and says so, `t` shows
    /// the whole text a page at a time, and `winnow review next` prints all of it (found by outside testing: the end
    /// was never shown).
    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func theWholeTextOfALongItemCanBeRead() async throws {
        let s = try await Self.setUp(items: 0)
        defer { s.server.kill9() }
        let padding = String(repeating: "Lovely weather in the park today, see you there. ", count: 60)
        let item = #"{"id": "long", "text": "\#(padding)FINAL LINE: send the gift cards", "language": "en"}"#
        #expect(try await s.server.request("POST", "/v1/items", key: s.feed, body: item).0 == 201)
        let next = try s.cli(["review", "next"])
        #expect(next.stdout.contains("FINAL LINE: send the gift cards"), "\(next.stdout)")
        let id = try #require(next.stdout.split(separator: " ").dropFirst().first.flatMap { Int($0) })
        #expect(try s.cli(["review", "release", "\(id)"]).status == 0)
        // Two pages of 20 lines and the last one, turned with a space; then quit.
        let run = try s.cli(["review", "--no-color"], stdin: "t  q")
        #expect(run.stdout.contains("(t: the whole text)"), "\(run.stdout)")
        #expect(run.stdout.contains("more lines: any key, q to stop"), "\(run.stdout)")
        #expect(run.stdout.contains("FINAL LINE: send the gift cards"), "\(run.stdout)")
    }

    /// `winnow policy set` (issue 18): what `policy suggest --json` prints, stored through the API after the changes are
    /// shown; never without --yes when nobody can be asked.
    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func aSuggestedPolicyIsStoredAfterItsChangesAreShown() async throws {
        let s = try await Self.setUp(items: 0)
        defer { s.server.kill9() }
        let file = try EndToEndTests.folder() + "/news.json"
        try #"{"policy": {"feed": "default", "version": 0, "rules": {"spam": {"review": 0.6, "remove": 0.9}}}, "shares": {}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let before = try await s.server.request("GET", "/v1/policies/default", key: s.admin).1
        let version = try #require((before["policy"] as? [String: Any])?["version"] as? Int)

        // Cut-offs out of order are refused before anything is shown or sent (a dry run showed them as changes).
        let badFile = try EndToEndTests.folder() + "/bad.json"
        try #"{"rules": {"spam": {"review": 0.9, "remove": 0.5}}}"#.write(toFile: badFile, atomically: true, encoding: .utf8)
        let bad = try s.cli(["policy", "set", "--feed", "default", badFile, "--dry-run"], as: s.admin)
        #expect(bad.status == 65 && bad.stderr.contains("\(badFile) is not a usable policy: "), "\(bad.status) \(bad.stderr)")
                let dry = try s.cli(["policy", "set", "--feed", "default", file, "--dry-run"], as: s.admin)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("Changes to feed default's policy (now version \(version)):"))
        #expect(dry.stdout.contains("  spam: review 0.0 → 0.6"), "\(dry.stdout)")
        #expect(dry.stdout.contains("  offensive: rule removed (the class will never act)"))
        let unasked = try s.cli(["policy", "set", "--feed", "default", file], as: s.admin)
        #expect(unasked.status == 64 && unasked.stderr.contains("Not stored: pass --yes"), "\(unasked.status)")
        #expect(((try await s.server.request("GET", "/v1/policies/default", key: s.admin).1["policy"]) as? [String: Any])?["version"] as? Int == version)

        let stored = try s.cli(["policy", "set", "--feed", "default", file, "--yes"], as: s.admin)
        #expect(stored.status == 0, "\(stored.stderr)")
        #expect(stored.stdout.contains("Stored version \(version + 1) of feed default's policy (it replaced version \(version))."))
        let after = try await s.server.request("GET", "/v1/policies/default", key: s.admin).1["policy"] as? [String: Any]
        #expect((after?["rules"] as? [String: Any])?.keys.sorted() == ["spam"])
        let again = try s.cli(["policy", "set", "--feed", "default", file, "--yes"], as: s.admin)
        #expect(again.stdout.contains("nothing to store"))
    }

    /// `winnow review undo` (issue 18): the scriptable way to take back one's own decision.
    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func aScriptTakesBackItsDecision() async throws {
        let s = try await Self.setUp(items: 1)
        defer { s.server.kill9() }
        let id = try #require((json(try s.cli(["review", "next", "--json"]).stdout)["ticket"] as? [String: Any])?["id"] as? Int)
        let decided = try s.cli(["review", "decide", "\(id)", "--label", "spam", "--reason", "spam", "--action", "demote"])
        #expect(decided.stdout.contains("Decided ticket \(id): spam, demoted (spam)."), "\(decided.stdout)\(decided.stderr)")
        let undone = try s.cli(["review", "undo", "\(id)"])
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(undone.stdout.contains("Took back your decision on ticket \(id). It is yours again until"))
        let again = try s.cli(["review", "undo", "\(id)"])
        #expect(again.status == 1 && again.stderr.contains("Ticket \(id) has no decision to take back: it is not decided."), "\(again.stderr)")
        #expect(try s.cli(["review", "decide", "\(id)", "--label", "clear", "--reason", "not_violating"]).status == 0)
    }

    /// Issue 21: the moderator sees how many copies of the item wait, and one decision settles them all. The four
    /// posts of the setup differ by a number only, so they are near-copies (text signatures). In the loop: `w` then a
    /// label decides the ticket and its three copies; `u` takes all four back (the copies return to the queue, where
    /// the wave finds them again); the same again, then quit with the queue empty.
    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func oneDecisionInTheLoopSettlesAWaveAndUndoTakesItBack() async throws {
        let s = try await Self.setUp(items: 4)
        defer { s.server.kill9() }
        let next = try s.cli(["review", "next", "--json"])
        let lead = try #require((json(next.stdout)["ticket"] as? [String: Any])?["id"] as? Int)
        let wave = try #require(json(next.stdout)["wave"] as? [String: Any])
        #expect(wave["copies"] as? Int == 3)
        #expect(try s.cli(["review", "release", "\(lead)"]).status == 0)
        let classes = json(next.stdout)["classes"] as? [String] ?? []
        let spam = try #require(classes.firstIndex(of: "spam")) + 1

        let run = try s.cli(["review", "--no-color"], stdin: "w\(spam)\n\nuw\(spam)\n\nq")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("Wave: 3 copies of this item wait in the queue · w: decide them with this one"), "\(run.stdout)")
        #expect(run.stdout.contains("w wave"))
        #expect(run.stdout.contains("Your decision settles this ticket and its 3 copies the same way"))
        #expect(run.stdout.components(separatedBy: ": spam, removed (spam). Its 3 copies too.").count == 3, "\(run.stdout)")
        #expect(run.stdout.contains("and on its 3 copies; decide it again."), "\(run.stdout)")
        #expect(!run.stdout.contains("Not taken back") && !run.stdout.contains("Still leased"))
        #expect(run.stdout.contains("Decided 4 tickets. Bye."), "\(run.stdout)")
        let stats = json(try s.cli(["queue", "stats", "--json"]).stdout)
        #expect(stats["open"] as? Int == 0)
        #expect(stats["claimed"] as? Int == 0)
        // Each copy has its own decision, by the reviewer, naming the wave's lead ticket.
        var waveNotes = 0
        for i in 0..<4 {
            let item = try await s.server.request("GET", "/v1/items/p\(i)", key: s.admin).1  // an admin reads who and the notes
            #expect((item["current"] as? [String: Any])?["decision"].flatMap { ($0 as? [String: Any])?["action"] as? String } == "remove", "p\(i)")
            let events = (item["history"] as? [[String: Any]] ?? []).compactMap { $0["ticket"] as? [String: Any] }
            let last = try #require(events.last)
            #expect(last["kind"] as? String == "decided" && last["by"] as? String == "ann" && last["label"] as? String == "spam")
            if let note = last["note"] as? String, note.hasPrefix("wave of ticket") { waveNotes += 1 }
        }
        #expect(waveNotes == 3)
    }

    /// The scriptable commands show the wave and settle it with `--wave`.
    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func decideWithWaveSettlesTheCopiesNextShows() async throws {
        let s = try await Self.setUp(items: 3)
        defer { s.server.kill9() }
        let next = try s.cli(["review", "next"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stdout.contains("Wave: 2 copies of this item wait in the queue · decide --wave settles them"), "\(next.stdout)")
        let id = try #require(next.stdout.split(separator: " ").dropFirst().first.flatMap { Int($0) })
        let decided = try s.cli(["review", "decide", "\(id)", "--label", "spam", "--reason", "scam", "--wave"])
        #expect(decided.status == 0, "\(decided.stderr)")
        #expect(decided.stdout.contains("Decided ticket \(id): spam, removed (scam), and 2 copies the same way (tickets "), "\(decided.stdout)")
        #expect(json(try s.cli(["queue", "stats", "--json"]).stdout)["open"] as? Int == 0)
        // The lead and its two copies were every ticket: nothing is left to claim.
        let s2 = try s.cli(["review", "next"])
        #expect(s2.status == 3)
    }

    static let script = ["/usr/bin/script", "/bin/script"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The same loop on a real pseudo-terminal (through util-linux `script`): raw mode, single keys without Enter
    /// after the label (Enter at the reason prompt takes the suggestion), colour because TERM says the terminal has it.
    /// Keys typed before a card appears are dropped: a label pressed twice decided the next ticket unseen.
    @Test(.enabled(if: EndToEndTests.executable != nil && script != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func theInteractiveLoopRunsOnAPseudoTerminal() async throws {
        let s = try await Self.setUp(items: 4)
        defer { s.server.kill9() }
        let next = try s.cli(["review", "next", "--json"])
        let classes = json(next.stdout)["classes"] as? [String] ?? []
        let spam = try #require(classes.firstIndex(of: "spam")) + 1
        #expect(try s.cli(["review", "release", "\((json(next.stdout)["ticket"] as? [String: Any])?["id"] as? Int ?? 0)"]).status == 0)

        let terminal = try PseudoTerminal(command: [try #require(EndToEndTests.executable).path, "review", "--url", s.url, "--key", s.moderator],
                                          script: try #require(Self.script))
        defer { terminal.stop() }
        let card = #"Ticket (\d+) · tier 1"#
        let first = try #require(terminal.wait(for: card, regex: true), "\(terminal.text)")
        #expect(terminal.wait(for: "\n> ") != nil)
        // Keys as a person types them: no line ends after single keys. The label, the suggested reason and the
        // default action, pressed twice in one burst: the second set was typed before the next card appeared.
        terminal.send("\(spam)\r\r\(spam)\r\r")
        #expect(terminal.wait(for: "✓ Ticket \(first): spam") != nil, "\(terminal.text)")
        let second = try #require(terminal.wait(for: card, regex: true, after: "✓ Ticket \(first)"), "\(terminal.text)")
        #expect(terminal.wait(for: "(Keys typed before ticket \(second) appeared were ignored.)") != nil, "\(terminal.text)")
        let meanwhile = json(try s.cli(["queue", "stats", "--json"]).stdout)
        // One decided; of the three still open, one is on screen.
        #expect(meanwhile["open"] as? Int == 3 && meanwhile["claimed"] as? Int == 1, "\(meanwhile)")
        var shown = second
        for _ in 0..<2 {
            #expect(terminal.wait(for: "\n> ", after: "Ticket \(shown) · tier 1") != nil, "\(terminal.text)")
            terminal.send("\(spam)\r\r")
            #expect(terminal.wait(for: "✓ Ticket \(shown): spam") != nil, "\(terminal.text)")
            shown = try #require(terminal.wait(for: card, regex: true, after: "✓ Ticket \(shown)"), "\(terminal.text)")
        }
        #expect(terminal.wait(for: "\n> ", after: "Ticket \(shown) · tier 1") != nil, "\(terminal.text)")
        terminal.send("q")
        #expect(terminal.waitForExit() == 0, "\(terminal.text)")
        #expect(terminal.text.contains("Decided 3 tickets. Bye."), "\(terminal.text)")
        #expect(terminal.text.contains("\u{1B}[1m"))  // colour on a terminal that has it
        let stats = json(try s.cli(["queue", "stats", "--json"]).stdout)
        #expect(stats["open"] as? Int == 1)
        #expect(stats["claimed"] as? Int == 0)
    }

    /// Ctrl-C at the note prompt cancels the note; the desk goes on (it ended the process, the ticket left leased).
    @Test(.enabled(if: EndToEndTests.executable != nil && script != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func ctrlCAtTheNotePromptCancelsTheNote() async throws {
        let s = try await Self.setUp(items: 2)
        defer { s.server.kill9() }
        let terminal = try PseudoTerminal(command: [try #require(EndToEndTests.executable).path, "review", "--no-color", "--url", s.url, "--key", s.moderator],
                                          script: try #require(Self.script))
        defer { terminal.stop() }
        #expect(terminal.wait(for: "\n> ") != nil, "\(terminal.text)")
        terminal.send("n")
        #expect(terminal.wait(for: "Note: ") != nil, "\(terminal.text)")
        terminal.send("half a note\u{3}")
        #expect(terminal.wait(for: "No note kept.") != nil, "\(terminal.text)")
        terminal.send("q")
        #expect(terminal.waitForExit() == 0, "\(terminal.text)")
        #expect(terminal.text.contains("Bye."), "\(terminal.text)")
        // Quitting released the ticket: nothing stays leased.
        #expect(json(try s.cli(["queue", "stats", "--json"]).stdout)["claimed"] as? Int == 0)
    }

    /// A first review of a ticket decided twice acts on nothing yet: `review decide` says so (it said "removed").
    /// An empty queue prints null with --json (one shape for scripts), exit code 3.
    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func aFirstReviewSaysItAwaitsTheSecondAndAnEmptyQueueIsNull() async throws {
        let config = try EndToEndTests.folder() + "/double.json"
        try #"{"engine": {"review": {"doubleReviewRate": 1, "goldRate": 0}}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let s = try await Self.setUp(items: 1, arguments: ["--config", config])
        defer { s.server.kill9() }
        let next = try s.cli(["review", "next", "--json"])
        let id = try #require((json(next.stdout)["ticket"] as? [String: Any])?["id"] as? Int)
        let decided = try s.cli(["review", "decide", "\(id)", "--label", "spam", "--reason", "scam"])
        #expect(decided.status == 0, "\(decided.stderr)")
        #expect(decided.stdout == "Judged ticket \(id): spam (scam); a second reviewer judges it independently before it is removed.\n", "\(decided.stdout)")
        let empty = try s.cli(["review", "next", "--json"])
        #expect(empty.status == 3 && empty.stdout == "null\n", "\(empty.status) \(empty.stdout)")
    }

    /// The desk keeps the ticket on screen while the reviewer reads: its lease (4 seconds here) is renewed before it
    /// runs out, and after --hold-minutes with no key (15 seconds here) the ticket goes back to the queue, said on screen.
    @Test(.enabled(if: EndToEndTests.executable != nil && script != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func theDeskKeepsItsLeaseWhileTheReviewerReadsAndLetsGoWhenTheyAreAway() async throws {
        let config = try EndToEndTests.folder() + "/lease.json"
        try #"{"engine": {"review": {"leaseSeconds": 4}}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let s = try await Self.setUp(items: 2, arguments: ["--config", config])
        defer { s.server.kill9() }
        let terminal = try PseudoTerminal(command: [try #require(EndToEndTests.executable).path, "review", "--no-color", "--url", s.url, "--key", s.moderator,
                                                    "--hold-minutes", "0.25"], script: try #require(Self.script))
        defer { terminal.stop() }
        let id = try #require(terminal.wait(for: #"Ticket (\d+) · tier 1"#, regex: true))
        // Two and a half leases without a key: still the reviewer's.
        try await Task.sleep(for: .seconds(10))
        let held = json(try s.cli(["queue", "stats", "--json"]).stdout)
        #expect(held["claimed"] as? Int == 1 && held["open"] as? Int == 2, "\(held)\n\(terminal.text)")
        #expect(terminal.wait(for: "No key for 15s: ticket \(id) went back to the queue.", seconds: 20) != nil, "\(terminal.text)")
        let away = json(try s.cli(["queue", "stats", "--json"]).stdout)
        #expect(away["claimed"] as? Int == 0 && away["open"] as? Int == 2, "\(away)")
        terminal.send("r")
        let again = try #require(terminal.wait(for: #"Ticket (\d+) · tier 1"#, regex: true, after: "went back to the queue"), "\(terminal.text)")
        // Keys typed before a card's prompt are dropped as meant for the card before (CI sent q between the card and
        // its prompt, the desk dropped it and waited 15 s more): wait for the prompt.
        #expect(terminal.wait(for: "\n> ", after: "Ticket \(again) · tier 1") != nil, "\(terminal.text)")
        terminal.send("q")
        #expect(terminal.waitForExit() == 0, "\(terminal.text)")
    }

    /// A window resized under the desk (SIGWINCH) gets the card again, laid out for its new size: narrowed to 40
    /// columns, every line of the card fits, where the one drawn for 80 columns had lines the terminal broke mid-word.
    @Test(.enabled(if: EndToEndTests.executable != nil && script != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func theDeskLaysTheCardOutAgainWhenTheWindowIsResized() async throws {
        let s = try await Self.setUp(items: 1)
        defer { s.server.kill9() }
        let terminal = try PseudoTerminal(command: [try #require(EndToEndTests.executable).path, "review", "--no-color", "--url", s.url, "--key", s.moderator],
                                          script: try #require(Self.script))
        defer { terminal.stop() }
        let id = try #require(terminal.wait(for: #"Ticket (\d+) · tier 1"#, regex: true))
        #expect(terminal.wait(for: "\n> ", after: "Ticket \(id) · tier 1") != nil, "\(terminal.text)")
        let lines = { (screen: String) in screen.replacingOccurrences(of: "\r", with: "").split(separator: "\n").map(\.count) }
        let first = terminal.text
        #expect(lines(first).max() == 80, "\(first)")  // laid out for the terminal's 80 columns (`script` on a pipe)
        // The desk's terminal, as `script` made it: the command's standard output.
        // `script`'s child (its `sh -c` exec'd the desk), found by its parent in /proc/N/stat: "N (name) S PPID …".
        let script = terminal.process.processIdentifier
        let desk = try #require(try FileManager.default.contentsOfDirectory(atPath: "/proc").first { entry in
            guard Int32(entry) != nil, let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.range(of: ") ", options: .backwards) else { return false }
            return stat[close.upperBound...].split(separator: " ").dropFirst().first == "\(script)"
        })
        let tty = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(desk)/fd/1")
        let stty = Process()
        stty.executableURL = URL(fileURLWithPath: "/bin/stty")
        stty.arguments = ["-F", tty, "cols", "40", "rows", "30"]
        try stty.run()
        stty.waitUntilExit()
        #expect(stty.terminationStatus == 0)
        // The card a second time, down to its prompt.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, terminal.text.dropFirst(first.count).components(separatedBy: "Ticket \(id) · tier 1").count < 2 || !terminal.text.hasSuffix("\n> ") {
            try await Task.sleep(for: .milliseconds(50))
        }
        let again = String(terminal.text.dropFirst(first.count))
        #expect(again.contains("Ticket \(id) · tier 1") && lines(again).max() ?? 0 == 40 && lines(again).count > 10, "\(tty) \(desk): \(terminal.text)")
        terminal.send("q")
        #expect(terminal.waitForExit() == 0, "\(terminal.text)")
    }

    /// Issue 18: after a decision failed because the server was unreachable, `winnow review` stopped answering to 1-9,
    /// Enter and s, and q left the ticket leased and the decision lost; with the server down, s ended the session with
    /// exit code 1. On a real pseudo-terminal, with the server stopped and restarted under it: the screen stays usable,
    /// r retries the same decision once the server is back, s with the server down keeps the session, and q says
    /// plainly what it could not give back.
    @Test(.enabled(if: EndToEndTests.executable != nil && script != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func theLoopSurvivesTheServerGoingAwayAndComingBack() async throws {
        var s = try await Self.setUp(items: 3)
        defer { s.server.kill9() }
        let next = try s.cli(["review", "next", "--json"])
        let classes = json(next.stdout)["classes"] as? [String] ?? []
        let spam = try #require(classes.firstIndex(of: "spam")) + 1
        #expect(try s.cli(["review", "release", "\((json(next.stdout)["ticket"] as? [String: Any])?["id"] as? Int ?? 0)"]).status == 0)
        let port = s.server.port

        let terminal = try PseudoTerminal(command: [try #require(EndToEndTests.executable).path, "review", "--no-color", "--url", s.url, "--key", s.moderator],
                                          script: try #require(Self.script))
        defer { terminal.stop() }
        let first = try #require(terminal.wait(for: #"Ticket (\d+) · tier 1"#, regex: true))
        #expect(terminal.wait(for: "\n> ") != nil)

        s.server.kill9()
        terminal.send("\(spam)\r\r")  // spam, the suggested reason, the default action
        #expect(terminal.wait(for: "Cannot reach the Winnow server") != nil, "\(terminal.text)")
        #expect(terminal.wait(for: "Press r to try again (decide ticket \(first) as spam)") != nil, "\(terminal.text.debugDescription)")
        terminal.send("x")  // keys still answer, the ticket still on screen
        #expect(terminal.wait(for: "Unknown key 'x'") != nil)

        s.server = try ServeEndToEndTests.Server(database: s.database, port: port)
        terminal.send("r")
        #expect(terminal.wait(for: "✓ Ticket \(first): spam, removed (spam).") != nil, "\(terminal.text)")
        let second = try #require(terminal.wait(for: #"Ticket (\d+) · tier 1"#, regex: true, after: "✓ Ticket \(first)"))
        #expect(second != first)
        #expect(terminal.wait(for: "\n> ", after: "Ticket \(second) · tier 1") != nil, "\(terminal.text)")

        s.server.kill9()
        terminal.send("s")
        #expect(terminal.wait(for: "Press r to try again (give ticket \(second) back)") != nil, "\(terminal.text)")
        #expect(terminal.isRunning)  // s with the server down no longer ends the session
        terminal.send("q")
        #expect(terminal.wait(for: "Could not give ticket \(second) back") != nil, "\(terminal.text)")
        #expect(terminal.text.contains("returns to the queue by itself when your lease ends at"))
        #expect(terminal.waitForExit() == 0, "\(terminal.text)")
        #expect(terminal.text.contains("Decided 1 ticket. Bye."))

        s.server = try ServeEndToEndTests.Server(database: s.database, port: port)
        let item = try await s.server.request("GET", "/v1/review/tickets/\(first)", key: s.admin).1
        #expect((item["ticket"] as? [String: Any])?["status"] as? String == "decided")
    }
}

/// A command on a real pseudo-terminal (through util-linux `script`), typed into key by key, its screen read as it
/// arrives.
final class PseudoTerminal: @unchecked Sendable {
    let process = Process()
    let input = Pipe(), output = Pipe()
    private let lock = NSLock()
    private var received = Data()

    init(command: [String], script: String) throws {
        process.executableURL = URL(fileURLWithPath: script)
        // `exec`: the shell `script` starts (`sh -c`, dash when SHELL is unset, as on CI) stays the command's parent
        // otherwise, in the terminal's foreground group: a Ctrl-C typed to the desk ended that shell, and `script`
        // reported its 130 as the command's exit status.
        process.arguments = ["-qfec", "exec " + command.joined(separator: " "), "/dev/null"]
        var environment = ProcessInfo.processInfo.environment
        environment["TERM"] = "xterm"
        environment.removeValue(forKey: "NO_COLOR")  // colour as a terminal has it, unless the command says --no-color
        process.environment = environment
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.received.append(data)
            self.lock.unlock()
        }
        try process.run()
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: received, as: UTF8.self)
    }

    var isRunning: Bool { process.isRunning }

    func send(_ keys: String) { input.fileHandleForWriting.write(Data(keys.utf8)) }

    /// Waits up to `seconds` for `pattern` (plain text, or with `regex` a regular expression with one group) to appear
    /// after the last `after`; returns the text (or the group).
    func wait(for pattern: String, regex: Bool = false, after: String? = nil, seconds: Double = 20) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var screen = text
            if let after, let range = screen.range(of: after, options: .backwards) { screen = String(screen[range.upperBound...]) }
            if regex {
                if let regex = try? NSRegularExpression(pattern: pattern),
                   let match = regex.firstMatch(in: screen, range: NSRange(screen.startIndex..., in: screen)),
                   let group = Range(match.range(at: 1), in: screen) {
                    return String(screen[group])
                }
            } else if screen.contains(pattern) {
                return pattern
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    func waitForExit(seconds: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func stop() {
        if process.isRunning { process.terminate() }
        output.fileHandleForReading.readabilityHandler = nil
        try? input.fileHandleForWriting.close()
    }
}
